"""Every error the API answers with, in one place, as ``{"detail": ..., "code": ...}``
(docs/API_CONTRACT.md): domain errors by their code, each code onto one status (``STATUS``);
framework errors (routing, body limits, validation) by their status; anything else a bare 500.

Error bodies carry the domain's own messages (written for the user) and never a stack trace;
logs get the error's type and code location only, never its message or the request.
"""

from __future__ import annotations

import json
import re
import traceback
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    ClientException,
    HTTPException,
    SerializationException,
    ValidationException,
)
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_405_METHOD_NOT_ALLOWED,
    HTTP_408_REQUEST_TIMEOUT,
    HTTP_409_CONFLICT,
    HTTP_410_GONE,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_431_REQUEST_HEADER_FIELDS_TOO_LARGE,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from reflective_app.bodies import MalformedBody
from reflective_domain.errors import (
    AuthenticationFailed,
    BatchConflict,
    DomainError,
    EntryConflict,
    InvalidCiphertext,
    StaleResolution,
    TooManyAttempts,
    ValidationFailed,
)
from reflective_domain.ports.storage import StorageUnavailable, UnstorableValue
from reflective_protocol.errors import ErrorCode

log = structlog.get_logger("reflective.errors")

BEARER = {"WWW-Authenticate": "Bearer"}
INTERNAL_ERROR = "Internal server error"
UNAVAILABLE = "Service temporarily unavailable"
UNSTORABLE = "A text value holds a character that cannot be stored (such as NUL, U+0000)"
CLIENT_CLOSED_REQUEST = 499  # the status nginx logs for it; no client is left to read it

STATUS: dict[ErrorCode, int] = {
    ErrorCode.BAD_REQUEST: HTTP_400_BAD_REQUEST,
    ErrorCode.TIER_CHANGE_REJECTED: HTTP_400_BAD_REQUEST,
    ErrorCode.NOT_AUTHENTICATED: HTTP_401_UNAUTHORIZED,
    ErrorCode.ACCOUNT_DISABLED: HTTP_401_UNAUTHORIZED,
    ErrorCode.FORBIDDEN_BY_TIER: HTTP_403_FORBIDDEN,
    ErrorCode.REGISTRATION_CLOSED: HTTP_403_FORBIDDEN,
    ErrorCode.FORBIDDEN: HTTP_403_FORBIDDEN,
    ErrorCode.NOT_FOUND: HTTP_404_NOT_FOUND,
    ErrorCode.METHOD_NOT_ALLOWED: HTTP_405_METHOD_NOT_ALLOWED,
    ErrorCode.REQUEST_TIMEOUT: HTTP_408_REQUEST_TIMEOUT,
    ErrorCode.EMAIL_TAKEN: HTTP_409_CONFLICT,
    ErrorCode.CONCURRENT_UPDATE: HTTP_409_CONFLICT,
    ErrorCode.ENTRY_CONFLICT: HTTP_409_CONFLICT,
    ErrorCode.STALE_RESOLUTION: HTTP_409_CONFLICT,
    ErrorCode.BATCH_CONFLICT: HTTP_409_CONFLICT,
    ErrorCode.ALREADY_EXISTS: HTTP_409_CONFLICT,
    ErrorCode.RESYNC_REQUIRED: HTTP_410_GONE,
    ErrorCode.QUOTA_EXCEEDED: HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    ErrorCode.BODY_TOO_LARGE: HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    ErrorCode.VALIDATION_FAILED: HTTP_422_UNPROCESSABLE_ENTITY,
    ErrorCode.BASE_REVISION_AHEAD: HTTP_422_UNPROCESSABLE_ENTITY,
    ErrorCode.RATE_LIMITED: HTTP_429_TOO_MANY_REQUESTS,
    ErrorCode.HEADERS_TOO_LARGE: HTTP_431_REQUEST_HEADER_FIELDS_TOO_LARGE,
    ErrorCode.CLIENT_DISCONNECTED: CLIENT_CLOSED_REQUEST,
    ErrorCode.INTERNAL_ERROR: HTTP_500_INTERNAL_SERVER_ERROR,
    ErrorCode.DATABASE_UNAVAILABLE: HTTP_503_SERVICE_UNAVAILABLE,
    ErrorCode.OVERLOADED: HTTP_503_SERVICE_UNAVAILABLE,
    ErrorCode.SHUTTING_DOWN: HTTP_503_SERVICE_UNAVAILABLE,
}
"""Every error code and the one status it is answered with."""

# The code of a framework error that names none (routing, body limits, ...), by status.
_CODE_OF_STATUS: dict[int, ErrorCode] = {
    HTTP_400_BAD_REQUEST: ErrorCode.BAD_REQUEST,
    HTTP_401_UNAUTHORIZED: ErrorCode.NOT_AUTHENTICATED,
    HTTP_403_FORBIDDEN: ErrorCode.FORBIDDEN,
    HTTP_404_NOT_FOUND: ErrorCode.NOT_FOUND,
    HTTP_405_METHOD_NOT_ALLOWED: ErrorCode.METHOD_NOT_ALLOWED,
    HTTP_408_REQUEST_TIMEOUT: ErrorCode.REQUEST_TIMEOUT,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE: ErrorCode.BODY_TOO_LARGE,
    HTTP_422_UNPROCESSABLE_ENTITY: ErrorCode.VALIDATION_FAILED,
    HTTP_429_TOO_MANY_REQUESTS: ErrorCode.RATE_LIMITED,
    CLIENT_CLOSED_REQUEST: ErrorCode.CLIENT_DISCONNECTED,
    HTTP_500_INTERNAL_SERVER_ERROR: ErrorCode.INTERNAL_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE: ErrorCode.OVERLOADED,
}


class CodedHTTPException(HTTPException):
    """An HTTP error raised by the app itself that names its code (the status follows from
    it): e.g. closed registration, a shutting-down event stream."""

    def __init__(
        self, code: ErrorCode, detail: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(detail=detail, status_code=STATUS[code], headers=dict(headers or {}))
        self.error_code = code


def error_body(detail: Any, code: ErrorCode, **extra: Any) -> bytes:
    """The JSON of an error answer, for the places that write raw ASGI messages."""
    return json.dumps(
        {"detail": detail, "code": code.value, **extra}, separators=(",", ":")
    ).encode()


def error_response(
    code: ErrorCode,
    detail: Any,
    headers: Mapping[str, str] | None = None,
    *,
    status_code: int | None = None,
    **extra: Any,
) -> Response[Any]:
    """``{"detail": detail, "code": code, **extra}`` with the code's status (or
    ``status_code``, for a framework error whose status has no code of its own)."""
    return Response(
        {"detail": detail, "code": code.value, **extra},
        status_code=STATUS[code] if status_code is None else status_code,
        headers=dict(headers) if headers else None,
        media_type=MediaType.JSON,
    )


def _error_item(loc: list[str | int], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": kind}


def _field_loc(request: Request[Any, Any, Any], field: str) -> list[str | int]:
    """``metrics.3.metric_type`` -> ["body", "metrics", 3, "metric_type"]; names that
    arrived as query parameters are placed in "query"."""
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in field.split(".")]
    source = "query" if field in request.query_params else "body"
    return [source, *parts]


def _validation(
    items: list[dict[str, Any]], code: ErrorCode = ErrorCode.VALIDATION_FAILED
) -> Response[Any]:
    return error_response(code, items)


# --- domain errors ---------------------------------------------------------------------


def _domain(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    """Errors whose answer is just their code's status and their message."""
    return error_response(ErrorCode(exc.code), exc.message)


def _validation_failed(request: Request[Any, Any, Any], exc: ValidationFailed) -> Response[Any]:
    loc = _field_loc(request, exc.field)
    return _validation([_error_item(loc, exc.message, "value_error")], ErrorCode(exc.code))


def _authentication_failed(
    request: Request[Any, Any, Any], exc: AuthenticationFailed
) -> Response[Any]:
    return error_response(ErrorCode(exc.code), exc.message, BEARER)


def _too_many_attempts(request: Request[Any, Any, Any], exc: TooManyAttempts) -> Response[Any]:
    return error_response(ErrorCode(exc.code), exc.message, {"Retry-After": str(exc.retry_after)})


def _entry_conflict(request: Request[Any, Any, Any], exc: EntryConflict) -> Response[Any]:
    detail = {
        "message": exc.message,
        "conflict_id": str(exc.conflict_id),
        "log_id": str(exc.entry_id),
    }
    return error_response(ErrorCode(exc.code), detail)


def _stale_resolution(request: Request[Any, Any, Any], exc: StaleResolution) -> Response[Any]:
    # The web client renders ``detail`` as text: a string, with the machine-readable fields
    # beside it rather than inside it.
    return error_response(
        ErrorCode(exc.code),
        exc.message,
        conflict_id=str(exc.conflict_id),
        log_id=str(exc.entry_id),
    )


def _batch_conflict(request: Request[Any, Any, Any], exc: BatchConflict) -> Response[Any]:
    return error_response(ErrorCode(exc.code), exc.message, ids=[str(i) for i in exc.entry_ids])


def _invalid_ciphertext(request: Request[Any, Any, Any], exc: InvalidCiphertext) -> Response[Any]:
    # With an index it is one metric of an upload batch; without, the HE public key.
    loc: list[str | int] = (
        ["body", "he_public_key"]
        if exc.index is None
        else ["body", "metrics", exc.index, "encrypted_value"]
    )
    return _validation([_error_item(loc, exc.message, "invalid_ciphertext")])


# --- framework errors ------------------------------------------------------------------

_AT_PATH = re.compile(r"\[(\d+)\]|\.?([^.\[\]]+)")
_MISSING_FIELD = re.compile(r"missing required field `([^`]+)`")


def msgspec_loc(source: str, key: str | None, message: str) -> list[str | int]:
    """Litestar's ``key`` (``metrics[1].encrypted_value``; ``data`` for the body itself)
    as a FastAPI-style ``loc`` list."""
    loc: list[str | int] = [source]
    if key and key != "data":
        for index, name in _AT_PATH.findall(key):
            loc.append(int(index) if index else name)
    if missing := _MISSING_FIELD.search(message):
        loc.append(missing.group(1))
    return loc


def _kind(message: str) -> str:
    if "missing required" in message:
        return "missing"
    if message.startswith("Expected"):
        return "type_error"
    return "value_error"


def validation_items(exc: ValidationException) -> list[dict[str, Any]]:
    if isinstance(exc.extra, list) and exc.extra:
        items = []
        for problem in exc.extra:
            if not isinstance(problem, dict):
                continue
            message = str(problem.get("message", "invalid value"))
            source = problem.get("source") or "body"
            source = source.value if isinstance(source, Enum) else str(source)  # ParamType
            loc = msgspec_loc(source, problem.get("key"), message)
            items.append(_error_item(loc, message, _kind(message)))
        if items:
            return items
    return [_error_item(["body"], exc.detail, "value_error")]


def _framework_validation(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[Any]:
    return _validation(validation_items(exc))


def _malformed_body(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # The body is not JSON at all: a validation failure like any other.
    item = _error_item(["body"], "Request body is not valid JSON", "json_invalid")
    return _validation([item])


CLIENT_DISCONNECTED = "Client disconnected before the request was read"


def _is_disconnect(exc: HTTPException) -> bool:
    # Litestar reports a client gone mid-body as an InternalServerException; our own body
    # reader (bodies.py) as a 499.
    if exc.status_code == CLIENT_CLOSED_REQUEST:
        return True
    return exc.status_code == HTTP_500_INTERNAL_SERVER_ERROR and "disconnected" in str(exc.detail)


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if type(exc) is ClientException and isinstance(exc.__cause__, SerializationException):
        return _malformed_body(request, exc)
    if _is_disconnect(exc):
        log.info("client_disconnected")
        return error_response(ErrorCode.CLIENT_DISCONNECTED, CLIENT_DISCONNECTED)
    if exc.status_code == HTTP_500_INTERNAL_SERVER_ERROR:
        return _unexpected(request, exc)
    headers = dict(exc.headers or {})
    if exc.status_code == HTTP_401_UNAUTHORIZED:
        headers.update(BEARER)
    code = getattr(exc, "error_code", None) or _CODE_OF_STATUS.get(
        exc.status_code, ErrorCode.BAD_REQUEST
    )
    return error_response(code, exc.detail, headers, status_code=exc.status_code)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, StorageUnavailable):
        log.warning("database_unavailable", error_type=type(exc.__cause__ or exc).__name__)
        return error_response(ErrorCode.DATABASE_UNAVAILABLE, UNAVAILABLE, {"Retry-After": "5"})
    if isinstance(exc, UnstorableValue):
        return _validation([_error_item(["body"], UNSTORABLE, "value_error")])
    # Only the type and where it happened: an exception's message can quote data.
    log.error(
        "unhandled_error",
        error_type=f"{type(exc).__module__}.{type(exc).__qualname__}",
        where="".join(traceback.format_tb(exc.__traceback__)),
    )
    return error_response(ErrorCode.INTERNAL_ERROR, INTERNAL_ERROR)


Handler = Callable[[Request[Any, Any, Any], Any], Response[Any]]

EXCEPTION_HANDLERS: dict[type[Exception], Handler] = {
    ValidationFailed: _validation_failed,
    AuthenticationFailed: _authentication_failed,
    EntryConflict: _entry_conflict,
    StaleResolution: _stale_resolution,
    BatchConflict: _batch_conflict,
    TooManyAttempts: _too_many_attempts,
    InvalidCiphertext: _invalid_ciphertext,
    DomainError: _domain,
    ValidationException: _framework_validation,
    MalformedBody: _malformed_body,
    HTTPException: _http,
    Exception: _unexpected,
}
