"""Domain errors. Each names its stable ``code`` (the error codes of the wire protocol); the
app layer maps each code onto one HTTP status."""

from __future__ import annotations

import uuid


class DomainError(Exception):
    """Base of every error a use case raises on purpose."""

    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(DomainError):
    """Input breaks a domain rule (422). ``field`` names what was wrong."""

    code = "validation_failed"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class BaseRevisionAhead(ValidationFailed):
    """An upload's ``base_revision`` is newer than the server's entry (422): the entry
    restarted below it (deleted and uploaded again), so the base means nothing there."""

    code = "base_revision_ahead"

    def __init__(self, message: str) -> None:
        super().__init__("base_revision", message)


class NotFound(DomainError):
    """The object does not exist or belongs to someone else (404): never tell which."""

    code = "not_found"


class AlreadyExists(DomainError):
    """A unique thing already exists (409)."""

    code = "already_exists"


class EmailTaken(AlreadyExists):
    """The email belongs to another account (409)."""

    code = "email_taken"


class AuthenticationFailed(DomainError):
    """Credentials or tokens were wrong (401). The message never says which part."""

    code = "not_authenticated"


class AccountDisabled(AuthenticationFailed):
    """The credentials are right but the account is disabled (401)."""

    code = "account_disabled"


class ForbiddenByTier(DomainError):
    """The user's privacy tier does not permit this (403)."""

    code = "forbidden_by_tier"


class TierChangeRejected(DomainError):
    """A tier change lacks what it needs, e.g. an HE public key (400)."""

    code = "tier_change_rejected"


class EntryConflict(DomainError):
    """An upload conflicts with a version the uploading device has not seen (409)."""

    code = "entry_conflict"

    def __init__(self, message: str, conflict_id: uuid.UUID, entry_id: uuid.UUID) -> None:
        super().__init__(message)
        self.conflict_id = conflict_id
        self.entry_id = entry_id


class StaleResolution(DomainError):
    """A conflict resolution decided on sides that changed since the conflict was last
    listed (409): nothing is written; the client lists conflicts again."""

    code = "stale_resolution"

    def __init__(self, message: str, conflict_id: uuid.UUID, entry_id: uuid.UUID) -> None:
        super().__init__(message)
        self.conflict_id = conflict_id
        self.entry_id = entry_id


class BatchConflict(DomainError):
    """An atomic batch with at least one conflicting item (409): nothing was stored."""

    code = "batch_conflict"

    def __init__(self, entry_ids: list[uuid.UUID]) -> None:
        super().__init__(
            f"{len(entry_ids)} of the batch's entries conflict with versions this device has "
            "not seen; nothing of the batch was stored"
        )
        self.entry_ids = entry_ids


class ResyncRequired(DomainError):
    """A change cursor the server cannot continue from (410): the device must pull from zero."""

    code = "resync_required"


class LimitExceeded(DomainError):
    """A size, count or quota limit was exceeded (413)."""

    code = "quota_exceeded"


class InvalidCiphertext(DomainError):
    """A ciphertext or key failed validation; ``index`` names which of a batch (422)."""

    code = "validation_failed"

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class ConcurrentUpdate(DomainError):
    """Someone else saved the same object since it was read (409); retry with fresh data."""

    code = "concurrent_update"


class TooManyAttempts(DomainError):
    """Too many failed sign-ins (429); ``retry_after`` in seconds."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(TooManyAttempts):
    """Too many requests of one kind (429); ``retry_after`` in seconds."""
