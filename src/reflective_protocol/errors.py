"""Every error body is ``{"detail": ..., "code": ...}``: ``detail`` is what a person reads
(a string, the 422 list, or the upload-conflict object the web client reads), ``code`` is what
a program branches on. Codes are stable: add new ones, never rename."""

from __future__ import annotations

import enum
from typing import Annotated

import msgspec


class ErrorCode(str, enum.Enum):
    """What went wrong, for a program to branch on; each code has one HTTP status."""

    # 400
    BAD_REQUEST = "bad_request"
    TIER_CHANGE_REJECTED = "tier_change_rejected"
    # 401
    NOT_AUTHENTICATED = "not_authenticated"
    ACCOUNT_DISABLED = "account_disabled"  # 401 at sign-in: the account exists but may not
    # 403
    FORBIDDEN_BY_TIER = "forbidden_by_tier"
    REGISTRATION_CLOSED = "registration_closed"
    FORBIDDEN = "forbidden"
    # 404
    NOT_FOUND = "not_found"
    # 405
    METHOD_NOT_ALLOWED = "method_not_allowed"
    # 408
    REQUEST_TIMEOUT = "request_timeout"
    # 409
    EMAIL_TAKEN = "email_taken"
    CONCURRENT_UPDATE = "concurrent_update"
    ENTRY_CONFLICT = "entry_conflict"
    STALE_RESOLUTION = "stale_resolution"
    BATCH_CONFLICT = "batch_conflict"
    ALREADY_EXISTS = "already_exists"  # another unique name, e.g. a tag's
    # 410
    RESYNC_REQUIRED = "resync_required"
    # 413
    QUOTA_EXCEEDED = "quota_exceeded"
    BODY_TOO_LARGE = "body_too_large"
    # 422
    VALIDATION_FAILED = "validation_failed"
    BASE_REVISION_AHEAD = "base_revision_ahead"  # an upload's base is newer than the entry
    # 431 (before the app: the HTTP parser refuses the headers)
    HEADERS_TOO_LARGE = "headers_too_large"
    # 429
    RATE_LIMITED = "rate_limited"
    # 499 (client closed the request)
    CLIENT_DISCONNECTED = "client_disconnected"
    # 500
    INTERNAL_ERROR = "internal_error"
    # 503
    DATABASE_UNAVAILABLE = "database_unavailable"
    OVERLOADED = "overloaded"
    SHUTTING_DOWN = "shutting_down"


class ValidationProblem(msgspec.Struct, frozen=True):
    """One problem of a 422: where, what, and its kind."""

    loc: Annotated[
        list[str | int],
        msgspec.Meta(
            description='Where: "body", "query" or "path", then field names and list indexes',
            examples=[["body", "metrics", 0, "encrypted_value"]],
        ),
    ]
    msg: Annotated[str, msgspec.Meta(description="What is wrong, written for a person")]
    type: Annotated[
        str,
        msgspec.Meta(
            description="The kind of problem: missing, type_error, value_error, json_invalid, "
            "invalid_ciphertext, ..."
        ),
    ]


class UploadConflict(msgspec.Struct, frozen=True):
    """The ``detail`` of a 409 ``entry_conflict``: the server kept both versions."""

    message: Annotated[str, msgspec.Meta(description="What happened, written for a person")]
    conflict_id: Annotated[str, msgspec.Meta(description="The conflict to resolve")]
    log_id: Annotated[str, msgspec.Meta(description="The entry the conflict is about")]


class Error(msgspec.Struct, frozen=True):
    """Every error answer. ``detail`` is for people (a string; for 422 a list of problems;
    for an upload conflict an object); ``code`` is for programs. 409 ``stale_resolution``
    also carries ``conflict_id`` and ``log_id``, 409 ``batch_conflict`` carries ``ids``."""

    detail: Annotated[
        str | list[ValidationProblem] | UploadConflict,
        msgspec.Meta(description="What went wrong, written for a person"),
    ]
    code: Annotated[ErrorCode, msgspec.Meta(description="What went wrong, for a program")]
    conflict_id: Annotated[
        str | msgspec.UnsetType,
        msgspec.Meta(description="stale_resolution: the conflict that went stale"),
    ] = msgspec.UNSET
    log_id: Annotated[
        str | msgspec.UnsetType, msgspec.Meta(description="stale_resolution: its entry")
    ] = msgspec.UNSET
    ids: Annotated[
        list[str] | msgspec.UnsetType,
        msgspec.Meta(description="batch_conflict: the entries that conflicted"),
    ] = msgspec.UNSET
