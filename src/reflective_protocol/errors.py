"""Every error body is ``{"detail": ..., "code": ...}``: ``detail`` is what a person reads
(a string, the 422 list, or the upload-conflict object the web client reads), ``code`` is what
a program branches on. Codes are stable: add new ones, never rename."""

from __future__ import annotations

import enum


class ErrorCode(str, enum.Enum):
    # 400
    BAD_REQUEST = "bad_request"
    TIER_CHANGE_REJECTED = "tier_change_rejected"
    # 401
    NOT_AUTHENTICATED = "not_authenticated"
    # 403
    FORBIDDEN_BY_TIER = "forbidden_by_tier"
    ACCOUNT_DISABLED = "account_disabled"
    # 404
    NOT_FOUND = "not_found"
    # 409
    EMAIL_TAKEN = "email_taken"
    CONCURRENT_UPDATE = "concurrent_update"
    ENTRY_CONFLICT = "entry_conflict"
    STALE_RESOLUTION = "stale_resolution"
    BATCH_CONFLICT = "batch_conflict"
    # 410
    RESYNC_REQUIRED = "resync_required"
    # 413
    QUOTA_EXCEEDED = "quota_exceeded"
    BODY_TOO_LARGE = "body_too_large"
    # 422
    VALIDATION_FAILED = "validation_failed"
    # 429
    RATE_LIMITED = "rate_limited"
    # 499 (client closed the request)
    CLIENT_DISCONNECTED = "client_disconnected"
    # 500
    INTERNAL_ERROR = "internal_error"
    # 503
    DATABASE_UNAVAILABLE = "database_unavailable"
    OVERLOADED = "overloaded"
