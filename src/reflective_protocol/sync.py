"""Encrypted entry sync: upload, listing, change feed, conflicts, revision history."""

from __future__ import annotations

import enum
import uuid
from typing import Annotated

import msgspec

from reflective_protocol.common import (
    IV_PATTERN,
    TAG_PATTERN,
    AwareDatetime,
    Base64,
    UtcDatetime,
    check_moments,
    doc,
)

# The entry rules (reflective_domain.entries) enforce these; stated here for the schema.
ENTRY_ID = doc("The entry's id, chosen by the client", ["0e7c5d4b-8a1f-4b6e-a3c2-5d9f1e2b7c84"])
CONTENT = doc(
    "The entry's AES-GCM ciphertext (base64); at most MAX_ENTRY_BYTES bytes (1 MiB by "
    "default), 413 beyond",
    ["qZQ2vV8k0y3c1o7r5w9e"],
)
IV = doc(
    "The AES-GCM nonce of encrypted_content: 12 or 16 bytes, base64",
    ["AAECAwQFBgcICQoL"],
    pattern=IV_PATTERN,
)
TAG = doc(
    "The AES-GCM tag, 16 bytes (base64), when not appended to the ciphertext",
    pattern=TAG_PATTERN,
)
EMBEDDING = doc(
    "The entry's encrypted search embedding (base64), at most 256 KiB; with embedding_iv"
)
EMBEDDING_IV = doc(
    "The nonce of encrypted_embedding: 12 or 16 bytes, base64; with encrypted_embedding",
    pattern=IV_PATTERN,
)
DEVICE_ID = doc(
    "The writing device's id, 1..128 characters", ["laptop-7f3a"], min_length=1, max_length=128
)
REVISION = doc("The entry's revision on the server: 1 at creation, +1 per change")
SYNCED_AT = doc("When the server accepted this revision (UTC); what `since` compares with")


class BackupUpload(msgspec.Struct, omit_defaults=True):
    """One encrypted entry version. ``id`` is the entry (log) id. ``base_revision``, when
    given, is the revision this version was edited from; without it the server decides by
    what it knows this device has seen."""

    id: Annotated[uuid.UUID, ENTRY_ID]
    encrypted_content: Annotated[Base64, CONTENT]
    content_iv: Annotated[Base64, IV]
    created_at: Annotated[
        AwareDatetime, doc("When the entry was written, on the device", ["2026-11-01T09:30:00Z"])
    ]
    updated_at: Annotated[
        AwareDatetime, doc("When this version was written, on the device", ["2026-11-01T09:45:00Z"])
    ]
    device_id: Annotated[str, DEVICE_ID]
    content_tag: Annotated[Base64 | None, TAG] = None
    encrypted_embedding: Annotated[Base64 | None, EMBEDDING] = None
    embedding_iv: Annotated[Base64 | None, EMBEDDING_IV] = None
    base_revision: Annotated[
        int | None,
        doc(
            "The revision this version was edited from (at least 1); absent: decided by what "
            "this device has seen",
            ge=1,
        ),
    ] = None

    def __post_init__(self) -> None:
        check_moments(created_at=self.created_at, updated_at=self.updated_at)

    def __repr__(self) -> str:
        return f"BackupUpload({self.id}, <{len(self.encrypted_content)} bytes>)"


class BatchUpload(msgspec.Struct):
    """Up to 500 entry versions, each as ``POST /sync/backup`` takes it (``base_revision``
    optional). ``atomic``: any conflict and nothing is stored (409 listing their ids)."""

    entries: Annotated[list[BackupUpload], doc("1..500 entry versions; 413 beyond 500")]
    atomic: Annotated[bool, doc("true: any conflict and nothing is stored")] = False


class BatchItem(msgspec.Struct, omit_defaults=True):
    """One item's outcome, in request order: ``created``, ``accepted``, ``unchanged`` (with
    the entry's ``revision``) or ``conflict`` (with the ``conflict_id`` to resolve)."""

    id: Annotated[uuid.UUID, doc("The entry's id")]
    outcome: Annotated[str, doc("created, accepted, unchanged or conflict")]
    revision: Annotated[int | None, doc("The entry's revision, when stored or unchanged")] = None
    conflict_id: Annotated[uuid.UUID | None, doc("The conflict to resolve, on a conflict")] = None


class BatchStored(msgspec.Struct):
    results: Annotated[list[BatchItem], doc("Each item's outcome, in request order")]
    stored: Annotated[int, doc("Items stored or already up to date")]
    conflicts: Annotated[int, doc("Items kept as conflicts")]


class BackupStored(msgspec.Struct):
    id: Annotated[uuid.UUID, doc("The entry's id")]
    user_id: Annotated[uuid.UUID, doc("The owner's id")]
    created_at: Annotated[UtcDatetime, doc("When the entry was written (UTC)")]
    updated_at: Annotated[UtcDatetime, doc("When this version was written (UTC)")]
    device_id: Annotated[str, doc("The device that wrote this version")]
    message: Annotated[str, doc("What was done, written for a person")]
    revision: Annotated[int, REVISION]


class BackupView(msgspec.Struct):
    """A live entry: the upload fields plus the server's ``revision`` and ``synced_at`` (the
    server time it was accepted, which ``since`` compares with)."""

    id: Annotated[uuid.UUID, doc("The entry's id")]
    encrypted_content: Annotated[Base64, doc("The entry's AES-GCM ciphertext (base64)")]
    content_iv: Annotated[Base64, doc("The nonce of encrypted_content (base64)")]
    content_tag: Annotated[Base64 | None, doc("The AES-GCM tag (base64), if sent apart")]
    encrypted_embedding: Annotated[Base64 | None, doc("The encrypted embedding (base64)")]
    embedding_iv: Annotated[Base64 | None, doc("The nonce of encrypted_embedding (base64)")]
    created_at: Annotated[UtcDatetime, doc("When the entry was written (UTC)")]
    updated_at: Annotated[UtcDatetime, doc("When this version was written (UTC)")]
    device_id: Annotated[str, doc("The device that wrote this version")]
    revision: Annotated[int, REVISION]
    synced_at: Annotated[UtcDatetime, SYNCED_AT]


class BackupList(msgspec.Struct):
    backups: Annotated[list[BackupView], doc("Live entries, oldest accepted first")]
    has_more: Annotated[bool, doc("More pages after this one")]
    total_count: Annotated[int, doc("Entries that match, in all")]


class ChangeView(msgspec.Struct):
    """An entry's latest state; a deletion is a tombstone (``deleted``, no ciphertext)."""

    id: Annotated[uuid.UUID, doc("The entry's id")]
    revision: Annotated[int, REVISION]
    deleted: Annotated[bool, doc("A tombstone: the entry was deleted, no ciphertext")]
    device_id: Annotated[str, doc("The device that made this change")]
    synced_at: Annotated[UtcDatetime, SYNCED_AT]
    encrypted_content: Annotated[
        Base64 | None, doc("The entry's AES-GCM ciphertext (base64); absent when deleted")
    ] = None
    content_iv: Annotated[Base64 | None, doc("The nonce of encrypted_content (base64)")] = None
    content_tag: Annotated[Base64 | None, doc("The AES-GCM tag (base64), if sent apart")] = None
    encrypted_embedding: Annotated[Base64 | None, doc("The encrypted embedding (base64)")] = None
    embedding_iv: Annotated[Base64 | None, doc("The nonce of encrypted_embedding (base64)")] = None
    created_at: Annotated[UtcDatetime | None, doc("When the entry was written (UTC)")] = None
    updated_at: Annotated[UtcDatetime | None, doc("When this version was written (UTC)")] = None


class ChangeList(msgspec.Struct):
    changes: Annotated[list[ChangeView], doc("Changes in the order the server committed them")]
    next_cursor: Annotated[str, doc("Pass as `cursor` to get the changes after these")]
    has_more: Annotated[bool, doc("More changes after this page")]


class DeletedBackups(msgspec.Struct):
    message: Annotated[str, doc("What was done, written for a person")]
    deleted_backups: Annotated[int, doc("Entries deleted")]


class DeletedMetrics(msgspec.Struct):
    message: Annotated[str, doc("What was done, written for a person")]
    deleted_metrics: Annotated[int, doc("Encrypted metrics deleted")]


class VersionView(msgspec.Struct):
    encrypted_content: Annotated[Base64, doc("The version's AES-GCM ciphertext (base64)")]
    iv: Annotated[Base64, doc("The nonce of encrypted_content (base64)")]
    tag: Annotated[Base64 | None, doc("The AES-GCM tag (base64), if sent apart")]
    updated_at: Annotated[UtcDatetime, doc("When this version was written (UTC)")]
    device_id: Annotated[str, doc("The device that wrote this version")]


class ConflictItem(msgspec.Struct):
    """``local_version``: the upload the server could not accept; ``remote_version``: the
    entry's current version (null if the entry has since been deleted)."""

    id: Annotated[uuid.UUID, doc("The conflict's id")]
    log_id: Annotated[uuid.UUID, doc("The entry in conflict")]
    local_version: Annotated[VersionView, doc("The upload the server could not accept")]
    remote_version: Annotated[
        VersionView | None, doc("The entry's current version; null if it was deleted")
    ]
    detected_at: Annotated[UtcDatetime, doc("When the conflict arose (UTC)")]
    remote_revision: Annotated[int, doc("The entry's revision shown as remote_version")]
    generation: Annotated[int, doc("How many local versions the conflict has held")]


class ConflictList(msgspec.Struct):
    conflicts: Annotated[list[ConflictItem], doc("Open conflicts, oldest first")]
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

    chosen_version: Annotated[ChosenVersion, doc("Which version wins", ["merged"])]
    final_encrypted_content: Annotated[
        Base64 | None,
        doc(
            "merged: the new version's AES-GCM ciphertext (base64); at most MAX_ENTRY_BYTES "
            "bytes (1 MiB by default)",
            ["bWVyZ2VkIGNpcGhlcnRleHQ="],
        ),
    ] = None
    final_iv: Annotated[
        Base64 | None,
        doc(
            "merged: the nonce of final_encrypted_content, 12 or 16 bytes (base64)",
            ["DA0ODxAREhMUFRYX"],
            pattern=IV_PATTERN,
        ),
    ] = None
    final_tag: Annotated[
        Base64 | None, doc("merged: the AES-GCM tag, 16 bytes (base64)", pattern=TAG_PATTERN)
    ] = None
    final_encrypted_embedding: Annotated[
        Base64 | None, doc("merged: the encrypted embedding (base64), at most 256 KiB")
    ] = None
    final_embedding_iv: Annotated[
        Base64 | None,
        doc("merged: the embedding's nonce, 12 or 16 bytes (base64)", pattern=IV_PATTERN),
    ] = None
    device_id: Annotated[
        str | None,
        doc(
            "The resolving device, at most 128 characters (default: the conflict's)", max_length=128
        ),
    ] = None
    # [ext] The remote revision the user was shown (``remote_revision`` in the listing): 409
    # if the entry has changed since, so a resolution never overwrites an unseen version.
    remote_revision: Annotated[
        int | None, doc("The remote_revision the user was shown: 409 if the entry moved on")
    ] = None
    # [ext] The conflict's ``generation`` as listed: 409 if its local side changed since.
    generation: Annotated[
        int | None, doc("The generation the user was shown: 409 if the local side changed")
    ] = None


class RevisionView(msgspec.Struct):
    """A kept version of an entry: its ciphertext as uploaded, the ``revision`` it was, the
    device that wrote it and when a later write replaced it (server time). Restore it by
    uploading it (decrypted and encrypted again, with a fresh IV) with ``base_revision``."""

    log_id: Annotated[uuid.UUID, doc("The entry's id")]
    revision: Annotated[int, doc("The revision this version was")]
    encrypted_content: Annotated[Base64, doc("The version's AES-256-GCM ciphertext, base64")]
    content_iv: Annotated[Base64, doc("Its nonce, base64")]
    content_tag: Annotated[Base64 | None, doc("Its GCM tag, base64, when sent apart")]
    device_id: Annotated[str, doc("The device that wrote this version")]
    replaced_at: Annotated[UtcDatetime, doc("When a later write replaced it (server time, UTC)")]


class RevisionList(msgspec.Struct):
    revisions: Annotated[list[RevisionView], doc("Kept versions, newest first")]
    next_cursor: Annotated[str | None, doc("Cursor of the next page; null: no more")]
    has_more: Annotated[bool, doc("Whether another page follows")]
