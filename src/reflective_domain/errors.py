"""Domain errors. Each maps one-to-one onto an HTTP status in the app layer."""

from __future__ import annotations

import uuid


class DomainError(Exception):
    """Base of every error a use case raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(DomainError):
    """Input breaks a domain rule (422). ``field`` names what was wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class NotFound(DomainError):
    """The object does not exist or belongs to someone else (404): never tell which."""


class AlreadyExists(DomainError):
    """A unique thing already exists (409)."""


class AuthenticationFailed(DomainError):
    """Credentials or tokens were wrong (401). The message never says which part."""


class ForbiddenByTier(DomainError):
    """The user's privacy tier does not permit this (403)."""


class TierChangeRejected(DomainError):
    """A tier change lacks what it needs, e.g. an HE public key (400)."""


class EntryConflict(DomainError):
    """An upload conflicts with a version the uploading device has not seen (409)."""

    def __init__(self, message: str, conflict_id: uuid.UUID, entry_id: uuid.UUID) -> None:
        super().__init__(message)
        self.conflict_id = conflict_id
        self.entry_id = entry_id


class StaleResolution(DomainError):
    """A conflict resolution decided on sides that changed since the conflict was last
    listed (409): nothing is written; the client lists conflicts again."""

    code = "conflict_changed"

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


class LimitExceeded(DomainError):
    """A size, count or quota limit was exceeded (413)."""


class InvalidCiphertext(DomainError):
    """A ciphertext or key failed validation; ``index`` names which of a batch (422), and
    ``where`` the batch's list and the item's ciphertext field."""

    def __init__(
        self,
        message: str,
        index: int | None = None,
        where: tuple[str, str] = ("metrics", "encrypted_value"),
    ) -> None:
        super().__init__(message)
        self.index = index
        self.where = where


class ConcurrentUpdate(DomainError):
    """Someone else saved the same object since it was read (409); retry with fresh data."""


class TooManyAttempts(DomainError):
    """Too many failed sign-ins (429); ``retry_after`` in seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(TooManyAttempts):
    """Too many requests of one kind (429); ``retry_after`` in seconds."""
