"""Encrypted entry sync: upload, listing, change feed, conflicts, revision history."""

from __future__ import annotations

import enum
import uuid
from typing import Annotated

import msgspec

from reflective_protocol.common import AwareDatetime, Base64, UtcDatetime, check_moments


class BackupUpload(msgspec.Struct, omit_defaults=True):
    """One encrypted entry version. ``id`` is the entry (log) id. ``base_revision``, when
    given, is the revision this version was edited from; without it the server decides by
    what it knows this device has seen."""

    id: uuid.UUID
    encrypted_content: Base64
    content_iv: Base64
    created_at: AwareDatetime
    updated_at: AwareDatetime
    device_id: str
    content_tag: Base64 | None = None
    encrypted_embedding: Base64 | None = None
    embedding_iv: Base64 | None = None
    base_revision: int | None = None

    def __post_init__(self) -> None:
        check_moments(created_at=self.created_at, updated_at=self.updated_at)

    def __repr__(self) -> str:
        return f"BackupUpload({self.id}, <{len(self.encrypted_content)} bytes>)"


class BatchUpload(msgspec.Struct):
    """Up to 500 entry versions, each as ``POST /sync/backup`` takes it (``base_revision``
    optional). ``atomic``: any conflict and nothing is stored (409 listing their ids)."""

    entries: list[BackupUpload]
    atomic: bool = False


class BatchItem(msgspec.Struct, omit_defaults=True):
    """One item's outcome, in request order: ``created``, ``accepted``, ``unchanged`` (with
    the entry's ``revision``) or ``conflict`` (with the ``conflict_id`` to resolve)."""

    id: uuid.UUID
    outcome: str
    revision: int | None = None
    conflict_id: uuid.UUID | None = None


class BatchStored(msgspec.Struct):
    results: list[BatchItem]
    stored: int
    conflicts: int


class BackupStored(msgspec.Struct):
    id: uuid.UUID
    user_id: uuid.UUID
    created_at: UtcDatetime
    updated_at: UtcDatetime
    device_id: str
    message: str
    revision: int


class BackupView(msgspec.Struct):
    """A live entry: the upload fields plus the server's ``revision`` and ``synced_at`` (the
    server time it was accepted, which ``since`` compares with)."""

    id: uuid.UUID
    encrypted_content: Base64
    content_iv: Base64
    content_tag: Base64 | None
    encrypted_embedding: Base64 | None
    embedding_iv: Base64 | None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    device_id: str
    revision: int
    synced_at: UtcDatetime


class BackupList(msgspec.Struct):
    backups: list[BackupView]
    has_more: bool
    total_count: int


class ChangeView(msgspec.Struct):
    """An entry's latest state; a deletion is a tombstone (``deleted``, no ciphertext)."""

    id: uuid.UUID
    revision: int
    deleted: bool
    device_id: str
    synced_at: UtcDatetime
    encrypted_content: Base64 | None = None
    content_iv: Base64 | None = None
    content_tag: Base64 | None = None
    encrypted_embedding: Base64 | None = None
    embedding_iv: Base64 | None = None
    created_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None


class ChangeList(msgspec.Struct):
    changes: list[ChangeView]
    next_cursor: str
    has_more: bool


class DeletedBackups(msgspec.Struct):
    message: str
    deleted_backups: int


class DeletedMetrics(msgspec.Struct):
    message: str
    deleted_metrics: int


class VersionView(msgspec.Struct):
    encrypted_content: Base64
    iv: Base64
    tag: Base64 | None
    updated_at: UtcDatetime
    device_id: str


class ConflictItem(msgspec.Struct):
    """``local_version``: the upload the server could not accept; ``remote_version``: the
    entry's current version (null if the entry has since been deleted)."""

    id: uuid.UUID
    log_id: uuid.UUID
    local_version: VersionView
    remote_version: VersionView | None
    detected_at: UtcDatetime
    remote_revision: int
    generation: int


class ConflictList(msgspec.Struct):
    conflicts: list[ConflictItem]
    total_count: Annotated[int, msgspec.Meta(description="Open conflicts in all")]
    has_more: Annotated[bool, msgspec.Meta(description="More pages after this one")] = False


class ChosenVersion(str, enum.Enum):
    """How a conflict is resolved: ``local`` applies the upload that conflicted, ``remote``
    keeps the entry's current version, ``merged`` applies a new version."""

    LOCAL = "local"
    REMOTE = "remote"
    MERGED = "merged"


class ResolveRequest(msgspec.Struct, omit_defaults=True):
    """``merged`` needs ``final_encrypted_content`` and ``final_iv``."""

    chosen_version: ChosenVersion
    final_encrypted_content: Base64 | None = None
    final_iv: Base64 | None = None
    final_tag: Base64 | None = None
    final_encrypted_embedding: Base64 | None = None
    final_embedding_iv: Base64 | None = None
    device_id: str | None = None
    # [ext] The remote revision the user was shown (``remote_revision`` in the listing): 409
    # if the entry has changed since, so a resolution never overwrites an unseen version.
    remote_revision: int | None = None
    # [ext] The conflict's ``generation`` as listed: 409 if its local side changed since.
    generation: int | None = None


class RevisionView(msgspec.Struct):
    """A kept version of an entry: its ciphertext as uploaded, the ``revision`` it was, the
    device that wrote it and when a later write replaced it (server time). Restore it by
    uploading it (decrypted and encrypted again, with a fresh IV) with ``base_revision``."""

    log_id: uuid.UUID
    revision: int
    encrypted_content: Base64
    content_iv: Base64
    content_tag: Base64 | None
    device_id: str
    replaced_at: UtcDatetime


class RevisionList(msgspec.Struct):
    revisions: list[RevisionView]
    next_cursor: Annotated[
        str | None, msgspec.Meta(description="cursor of the next page; null: no more")
    ]
    has_more: bool
