"""Encrypted entry sync: upload, listing, change feed, conflicts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from reflective_app.dto.common import AwareDatetime, Base64, as_utc, check_moments
from reflective_domain.entries import Conflict, Entry, EntryVersion, Revision, Upload
from reflective_domain.use_cases.conflicts import ConflictView, MergedVersion


class BackupUpload(msgspec.Struct):
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

    def to_domain(self) -> Upload:
        version = EntryVersion(
            content=self.encrypted_content,
            iv=self.content_iv,
            tag=self.content_tag,
            created_at=self.created_at,
            updated_at=self.updated_at,
            device_id=self.device_id,
            embedding=self.encrypted_embedding,
            embedding_iv=self.embedding_iv,
        )
        return Upload(self.id, version, self.base_revision)


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
    created_at: datetime
    updated_at: datetime
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
    created_at: datetime
    updated_at: datetime
    device_id: str
    revision: int
    synced_at: datetime

    @classmethod
    def of(cls, entry: Entry) -> BackupView:
        version = entry.version
        assert version is not None  # listings hold live entries only
        return cls(
            id=entry.id,
            encrypted_content=version.content,
            content_iv=version.iv,
            content_tag=version.tag,
            encrypted_embedding=version.embedding,
            embedding_iv=version.embedding_iv,
            created_at=as_utc(version.created_at),
            updated_at=as_utc(version.updated_at),
            device_id=version.device_id,
            revision=entry.revision,
            synced_at=as_utc(entry.synced_at),
        )


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
    synced_at: datetime
    encrypted_content: Base64 | None = None
    content_iv: Base64 | None = None
    content_tag: Base64 | None = None
    encrypted_embedding: Base64 | None = None
    embedding_iv: Base64 | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def of(cls, entry: Entry) -> ChangeView:
        view = cls(
            id=entry.id,
            revision=entry.revision,
            deleted=entry.deleted,
            device_id=entry.device_id,
            synced_at=as_utc(entry.synced_at),
        )
        if (v := entry.version) is not None:
            view.encrypted_content, view.content_iv, view.content_tag = v.content, v.iv, v.tag
            view.encrypted_embedding, view.embedding_iv = v.embedding, v.embedding_iv
            view.created_at, view.updated_at = as_utc(v.created_at), as_utc(v.updated_at)
        return view


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
    updated_at: datetime
    device_id: str

    @classmethod
    def of(cls, version: EntryVersion) -> VersionView:
        return cls(
            encrypted_content=version.content,
            iv=version.iv,
            tag=version.tag,
            updated_at=as_utc(version.updated_at),
            device_id=version.device_id,
        )


class ConflictItem(msgspec.Struct):
    """``local_version``: the upload the server could not accept; ``remote_version``: the
    entry's current version (null if the entry has since been deleted)."""

    id: uuid.UUID
    log_id: uuid.UUID
    local_version: VersionView
    remote_version: VersionView | None
    detected_at: datetime
    remote_revision: int
    generation: int

    @classmethod
    def of(cls, view: ConflictView) -> ConflictItem:
        conflict: Conflict = view.conflict
        remote = view.remote.version
        return cls(
            id=conflict.id,
            log_id=conflict.entry_id,
            local_version=VersionView.of(conflict.local),
            remote_version=None if remote is None else VersionView.of(remote),
            detected_at=as_utc(conflict.detected_at),
            remote_revision=view.remote.revision,
            generation=conflict.generation,
        )


class ConflictList(msgspec.Struct):
    conflicts: list[ConflictItem]
    total_count: Annotated[int, msgspec.Meta(description="Open conflicts in all")]
    has_more: Annotated[bool, msgspec.Meta(description="More pages after this one")] = False


class ResolveRequest(msgspec.Struct):
    """``merged`` needs ``final_encrypted_content`` and ``final_iv``."""

    chosen_version: Literal["local", "remote", "merged"]
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

    def merged(self) -> MergedVersion | None:
        if self.final_encrypted_content is None or self.final_iv is None:
            return None
        return MergedVersion(
            content=self.final_encrypted_content,
            iv=self.final_iv,
            tag=self.final_tag,
            embedding=self.final_encrypted_embedding,
            embedding_iv=self.final_embedding_iv,
        )


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
    replaced_at: datetime

    @classmethod
    def of(cls, revision: Revision) -> RevisionView:
        return cls(
            log_id=revision.entry_id,
            revision=revision.revision,
            encrypted_content=revision.content,
            content_iv=revision.iv,
            content_tag=revision.tag,
            device_id=revision.device_id,
            replaced_at=as_utc(revision.replaced_at),
        )


class RevisionList(msgspec.Struct):
    revisions: list[RevisionView]
    next_cursor: Annotated[
        str | None, msgspec.Meta(description="cursor of the next page; null: no more")
    ]
    has_more: bool
