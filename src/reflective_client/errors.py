"""Every error the client raises on purpose.

API errors follow the ``code`` of the server's ``{"detail": ..., "code": ...}`` answers (and
never what ``detail`` holds), so callers catch meaning (``ConflictError``, ``TierError``)
rather than numbers. Messages come from the
server's ``detail`` (written for users) and never quote request bodies, tokens or keys.
"""

from __future__ import annotations

from typing import Any

import httpx

from reflective_protocol.errors import ErrorCode


class ReflectiveError(Exception):
    """Base of everything this package raises on purpose."""


# --- the server said no -----------------------------------------------------------------


class ApiError(ReflectiveError):
    """The server answered with an error status. ``detail`` is its ``detail`` as sent."""

    status_code: int = 0
    code: ErrorCode | None = None
    """The server's error code (None when the answer carried none this client knows)."""

    def __init__(self, message: str, status_code: int, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.detail = detail


class BadRequestError(ApiError):
    """400: e.g. an upgrade without an HE public key."""


class AuthError(ApiError):
    """401: wrong credentials, or a token that is missing, expired or revoked."""


class TierError(ApiError):
    """403: the account's privacy tier does not allow this (e.g. sync on analytics_sync)."""


class NotFoundError(ApiError):
    """404: unknown, or someone else's (the server never says which)."""


class AlreadyExistsError(ApiError):
    """409 with a plain message: e.g. "Email already registered", or a concurrent update."""


class ConflictError(ApiError):
    """409 on an entry upload: the server kept both versions as conflict ``conflict_id``."""

    def __init__(
        self, message: str, status_code: int, detail: Any, conflict_id: str, log_id: str
    ) -> None:
        super().__init__(message, status_code, detail)
        self.conflict_id = conflict_id
        self.log_id = log_id


class StaleResolutionError(AlreadyExistsError):
    """409 on a conflict resolution: a side changed since the conflict was last listed.
    Nothing was written; list conflicts again and resolve against what they show."""

    def __init__(self, message: str, status_code: int, detail: Any, conflict_id: str) -> None:
        super().__init__(message, status_code, detail)
        self.conflict_id = conflict_id


class ResyncRequired(ApiError):
    """410: the change cursor is unknown to the server; pull again from the start."""


class PayloadTooLargeError(ApiError):
    """413: an entry, a batch or a body over the server's limits."""


class ValidationError(ApiError):
    """422: ``errors`` is the server's list of ``{loc, msg, type}``."""

    @property
    def errors(self) -> list[dict[str, Any]]:
        return (
            [e for e in self.detail if isinstance(e, dict)] if isinstance(self.detail, list) else []
        )


class RateLimitedError(ApiError):
    """429: too many requests; ``retry_after`` seconds when the server said."""

    def __init__(
        self, message: str, status_code: int, detail: Any, retry_after: float | None
    ) -> None:
        super().__init__(message, status_code, detail)
        self.retry_after = retry_after


class ServerError(ApiError):
    """5xx: the server failed; whether a write took effect is unknown."""


_BY_CODE: dict[ErrorCode, type[ApiError]] = {
    ErrorCode.BAD_REQUEST: BadRequestError,
    ErrorCode.TIER_CHANGE_REJECTED: BadRequestError,
    ErrorCode.NOT_AUTHENTICATED: AuthError,
    ErrorCode.ACCOUNT_DISABLED: AuthError,
    ErrorCode.FORBIDDEN_BY_TIER: TierError,
    ErrorCode.REGISTRATION_CLOSED: ApiError,
    ErrorCode.FORBIDDEN: ApiError,
    ErrorCode.NOT_FOUND: NotFoundError,
    ErrorCode.EMAIL_TAKEN: AlreadyExistsError,
    ErrorCode.CONCURRENT_UPDATE: AlreadyExistsError,
    ErrorCode.ALREADY_EXISTS: AlreadyExistsError,
    ErrorCode.BATCH_CONFLICT: AlreadyExistsError,
    ErrorCode.RESYNC_REQUIRED: ResyncRequired,
    ErrorCode.QUOTA_EXCEEDED: PayloadTooLargeError,
    ErrorCode.BODY_TOO_LARGE: PayloadTooLargeError,
    ErrorCode.HEADERS_TOO_LARGE: BadRequestError,
    ErrorCode.VALIDATION_FAILED: ValidationError,
    ErrorCode.BASE_REVISION_AHEAD: ValidationError,
    ErrorCode.INTERNAL_ERROR: ServerError,
    ErrorCode.DATABASE_UNAVAILABLE: ServerError,
    ErrorCode.OVERLOADED: ServerError,
    ErrorCode.SHUTTING_DOWN: ServerError,
}
"""The exception for each code; the codes with fields of their own are built below."""


def detail_message(detail: Any, fallback: str) -> str:
    """A one-line message from a ``detail`` the way the web client shows it: the string,
    the list's ``msg`` joined, or an object's ``message``."""
    if isinstance(detail, str) and detail:
        return detail
    if isinstance(detail, list):
        msgs = [str(item.get("msg")) for item in detail if isinstance(item, dict) and "msg" in item]
        if msgs:
            return "; ".join(msgs)
    if isinstance(detail, dict) and isinstance(detail.get("message"), str):
        return str(detail["message"])
    return fallback


def _code(body: Any) -> ErrorCode | None:
    try:
        return ErrorCode(body["code"])
    except (TypeError, KeyError, ValueError):
        return None  # no body, another server, or a code newer than this client


def error_from_response(response: httpx.Response) -> ApiError:
    """The exception for an error response (status >= 400), chosen by the body's ``code``;
    an answer without a known code (a proxy's page, a newer server) is a plain ``ApiError``,
    or a ``ServerError`` for a 5xx."""
    status = response.status_code
    try:
        body = response.json()
        detail = body.get("detail")
    except (ValueError, AttributeError):
        body = detail = None  # not JSON, e.g. a proxy's HTML page: never quote it
    message = detail_message(detail, f"HTTP {status} {response.reason_phrase}".strip())
    code = _code(body)
    error: ApiError
    if code is ErrorCode.ENTRY_CONFLICT:
        conflict = detail if isinstance(detail, dict) else {}
        error = ConflictError(
            message,
            status,
            detail,
            str(conflict.get("conflict_id")),
            str(conflict.get("log_id")),
        )
    elif code is ErrorCode.STALE_RESOLUTION:
        error = StaleResolutionError(message, status, detail, str(body.get("conflict_id")))
    elif code is ErrorCode.RATE_LIMITED:
        error = RateLimitedError(message, status, detail, _retry_after(response))
    elif code is None:
        error = (ServerError if status >= 500 else ApiError)(message, status, detail)
    else:
        error = _BY_CODE.get(code, ApiError)(message, status, detail)
    error.code = code
    return error


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


# --- the server could not be reached ------------------------------------------------------


class TransportError(ReflectiveError):
    """No answer (connection refused, timeout, reset). A write may or may not have happened:
    retry idempotent writes, reconcile the others."""


# --- local failures ------------------------------------------------------------------------


class NotSignedIn(ReflectiveError):
    """The call needs an access token and the client has none."""


class KeysMissing(ReflectiveError):
    """This profile holds no keys (import them with ``keys import``, or register)."""


class DecryptionError(ReflectiveError):
    """A ciphertext did not decrypt under this profile's keys: other keys, or tampered."""


class KeyFileError(ReflectiveError):
    """A key export file is not one this client can read (format, version, parameters)."""


class WrongPassphrase(KeyFileError):
    """The passphrase does not open the key file, or the file was modified."""


class KeyStorageError(ReflectiveError):
    """The keys could not be read from or written to their store."""
