"""Versioned encrypted entries and the conflict rules (docs/DESIGN.md, "Versioned entries and
conflicts").

The server never reads an entry: a version is opaque ciphertext plus the metadata the client
declares. What the server owns is the order of versions: a revision per entry and a change
sequence per user.
"""

from __future__ import annotations

import enum
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from reflective_domain.errors import BaseRevisionAhead, LimitExceeded, ValidationFailed

MAX_DEVICE_ID = 128
IV_SIZES = (12, 16)
GCM_TAG_SIZE = 16


ROW_OVERHEAD_BYTES = 128
"""What each stored entry row (tombstones included), conflict row, kept version and tag counts
against the storage quota beyond its own bytes, so that even empty rows cost something."""


def stored_size(version: EntryVersion | None) -> int:
    """What one entry row or conflict row holding ``version`` counts against the quota."""
    return ROW_OVERHEAD_BYTES + (version.size if version is not None else 0)


def history_size(content_length: int) -> int:
    """What one kept (history) version counts against the quota: its ciphertext, one row."""
    return ROW_OVERHEAD_BYTES + content_length


@dataclass(frozen=True, slots=True)
class Retention:
    """How long replaced versions stay as history (the server's choice, not the client's):
    at most ``max_per_entry`` per entry, none replaced more than ``days`` ago. 0 versions
    per entry turns history off."""

    max_per_entry: int = 20
    days: int = 90

    def __post_init__(self) -> None:
        if self.max_per_entry < 0 or self.days < 1:
            raise ValueError("retention needs max_per_entry >= 0 and days >= 1")

    def plan(self, entry: Entry, history: Sequence[KeptRevision], now: datetime) -> HistoryChange:
        """What replacing ``entry``'s current version (before the write) does to its history:
        the current version is kept, then the oldest beyond the count and any replaced before
        the cutoff go, in the same write, so the quota is checked on what remains."""
        kept = None
        if entry.version is not None and self.max_per_entry > 0:
            kept = Revision.of(entry, now)
        room = self.max_per_entry - (1 if kept is not None else 0)
        cutoff = now - timedelta(days=self.days)
        newest_first = sorted(history, key=lambda h: h.revision, reverse=True)
        pruned = tuple(h for n, h in enumerate(newest_first) if n >= room or h.replaced_at < cutoff)
        delta = (kept.size if kept is not None else 0) - sum(h.size for h in pruned)
        return HistoryChange(
            entry.user_id, entry.id, kept, tuple(h.revision for h in pruned), delta
        )


@dataclass(frozen=True, slots=True)
class EntryLimits:
    """Server-side caps on one entry, and on all of a user's entries, conflicts, kept versions
    and tags together (the storage quota); and how long replaced versions are kept."""

    max_content_bytes: int = 1024 * 1024
    max_embedding_bytes: int = 256 * 1024
    max_user_bytes: int = 256 * 1024 * 1024
    retention: Retention = Retention()

    def check_quota(self, stored: int, delta: int) -> None:
        """``stored``: what the account holds now; ``delta``: what a write adds (negative when
        it frees more than it adds, which is always allowed)."""
        if delta > 0 and stored + delta > self.max_user_bytes:
            raise LimitExceeded(
                f"storage quota exceeded: entries, conflicts, kept versions and tags may "
                f"hold at most {self.max_user_bytes} bytes per account; delete entries, "
                f"their history or tags to make room"
            )


def check_device_id(device_id: str | None) -> str | None:
    """A device id, wherever one is accepted (upload, listing, change feed, delete): 1..128
    characters (it leads an index key, which PostgreSQL caps at ~2.7 KB)."""
    if device_id is not None and (not device_id or len(device_id) > MAX_DEVICE_ID):
        raise ValidationFailed("device_id", f"device_id needs 1..{MAX_DEVICE_ID} characters")
    return device_id


def fingerprint(iv: bytes, content: bytes) -> bytes:
    """SHA-256 of an encryption (IV and ciphertext, each length-prefixed)."""
    h = hashlib.sha256()
    for part in (iv, content):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.digest()


@dataclass(frozen=True, slots=True)
class EntryVersion:
    """One encrypted version of an entry, exactly as a device uploaded it."""

    content: bytes
    iv: bytes
    tag: bytes | None
    created_at: datetime
    updated_at: datetime
    device_id: str
    embedding: bytes | None = None
    embedding_iv: bytes | None = None

    def __post_init__(self) -> None:
        check_device_id(self.device_id)
        if len(self.iv) not in IV_SIZES:
            raise ValidationFailed("content_iv", "content_iv must be 12 or 16 bytes")
        if self.tag is not None and len(self.tag) != GCM_TAG_SIZE:
            raise ValidationFailed("content_tag", "content_tag must be 16 bytes")
        if (self.embedding is None) != (self.embedding_iv is None):
            raise ValidationFailed(
                "embedding_iv", "encrypted_embedding and embedding_iv go together"
            )
        if self.embedding_iv is not None and len(self.embedding_iv) not in IV_SIZES:
            raise ValidationFailed("embedding_iv", "embedding_iv must be 12 or 16 bytes")
        if self.created_at.tzinfo is None or self.updated_at.tzinfo is None:
            raise ValidationFailed("created_at", "timestamps need a timezone")

    def check_limits(self, limits: EntryLimits) -> None:
        if len(self.content) > limits.max_content_bytes:
            raise LimitExceeded(
                f"encrypted_content is larger than {limits.max_content_bytes} bytes"
            )
        if self.embedding is not None and len(self.embedding) > limits.max_embedding_bytes:
            raise LimitExceeded(
                f"encrypted_embedding is larger than {limits.max_embedding_bytes} bytes"
            )

    @property
    def fingerprint(self) -> bytes:
        """Identifies an upload: same ciphertext and IV means the same encryption, i.e. a retry."""
        return fingerprint(self.iv, self.content)

    @property
    def size(self) -> int:
        return len(self.content) + len(self.embedding or b"")

    def __repr__(self) -> str:
        return (
            f"EntryVersion(<{len(self.content)} bytes>, device_id={self.device_id!r}, "
            f"updated_at={self.updated_at.isoformat()})"
        )


@dataclass(slots=True)
class Entry:
    """An entry's current state. A tombstone has ``version`` None and ``deleted`` True."""

    id: uuid.UUID
    user_id: uuid.UUID
    revision: int
    change_seq: int
    device_id: str
    synced_at: datetime
    version: EntryVersion | None

    @property
    def deleted(self) -> bool:
        return self.version is None

    def __repr__(self) -> str:
        return f"Entry(id={self.id}, revision={self.revision}, deleted={self.deleted})"

    @classmethod
    def create(
        cls,
        entry_id: uuid.UUID,
        user_id: uuid.UUID,
        version: EntryVersion,
        change_seq: int,
        now: datetime,
    ) -> Entry:
        return cls(entry_id, user_id, 1, change_seq, version.device_id, now, version)

    def write(self, version: EntryVersion, change_seq: int, now: datetime) -> None:
        """Make ``version`` the next revision (the decision to allow it is ``decide_upload``'s)."""
        self.version = version
        self.device_id = version.device_id
        self._advance(change_seq, now)

    def delete(self, device_id: str, change_seq: int, now: datetime) -> None:
        """Drop the ciphertext and leave a tombstone in the change feed."""
        self.version = None
        self.device_id = device_id
        self._advance(change_seq, now)

    def _advance(self, change_seq: int, now: datetime) -> None:
        if change_seq <= self.change_seq:
            raise ValueError("change sequence must increase")
        self.revision += 1
        self.change_seq = change_seq
        self.synced_at = now


@dataclass(frozen=True, slots=True)
class Revision:
    """A replaced version of an entry, kept as history: the ciphertext as it was, the device
    that wrote it, the revision it was and when it was replaced. Restoring one is an ordinary
    upload of it (re-encrypted) with ``base_revision``."""

    entry_id: uuid.UUID
    revision: int
    content: bytes
    iv: bytes
    tag: bytes | None
    device_id: str
    replaced_at: datetime

    @classmethod
    def of(cls, entry: Entry, now: datetime) -> Revision:
        """``entry``'s current version, replaced ``now``."""
        version = entry.version
        assert version is not None
        return cls(
            entry.id,
            entry.revision,
            version.content,
            version.iv,
            version.tag,
            version.device_id,
            now,
        )

    @property
    def size(self) -> int:
        return history_size(len(self.content))

    @property
    def fingerprint(self) -> bytes:
        """The same as the version's it was (``EntryVersion.fingerprint``)."""
        return fingerprint(self.iv, self.content)

    @property
    def summary(self) -> KeptRevision:
        return KeptRevision(self.revision, self.replaced_at, self.size)

    def __repr__(self) -> str:
        return f"Revision({self.entry_id}, revision={self.revision}, <{len(self.content)} bytes>)"


@dataclass(frozen=True, slots=True)
class KeptRevision:
    """What retention needs to know of a kept version (its ciphertext is not read)."""

    revision: int
    replaced_at: datetime
    size: int


@dataclass(frozen=True, slots=True)
class HistoryChange:
    """What one write does to an entry's history: ``kept`` joins it (None when the replaced
    side was a tombstone, or history is off), the ``pruned`` revisions leave it, and the
    stored bytes change by ``delta``."""

    user_id: uuid.UUID
    entry_id: uuid.UUID
    kept: Revision | None
    pruned: tuple[int, ...]
    delta: int


class Resolution(enum.Enum):
    LOCAL = "local"
    REMOTE = "remote"
    MERGED = "merged"
    SUPERSEDED = "superseded"  # the conflicting device itself wrote a newer version


@dataclass(slots=True)
class Conflict:
    """An upload the server could not accept without losing the current version.

    It keeps the uploaded version (``local``); the other side is always the entry's current
    version, so it cannot go stale. At most one open conflict exists per entry.

    ``generation`` counts the local versions it has held. ``remote_revision`` is the entry
    revision the conflict was last confirmed against (by a listing, which is what shows it),
    0 when its local side changed since: a resolution that names neither is checked against
    these, so it never applies to sides nobody could have been shown.
    """

    id: uuid.UUID
    user_id: uuid.UUID
    entry_id: uuid.UUID
    local: EntryVersion
    remote_revision: int
    detected_at: datetime
    resolved_at: datetime | None = None
    resolution: Resolution | None = None
    generation: int = 1

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    def refresh(self, local: EntryVersion, now: datetime) -> None:
        """A newer upload from the same device replaces the version it had sent before."""
        self.local = local
        self.generation += 1
        self.remote_revision = 0  # unconfirmed until looked at again
        self.detected_at = now

    def is_stale(
        self,
        choice: Resolution,
        current_revision: int,
        shown_revision: int | None,
        shown_generation: int | None,
    ) -> bool:
        """Whether ``choice``, decided on what was shown, would discard a side nobody was
        shown: any choice drops the local side, so it must not have changed since; local and
        merged also replace the remote side, so the entry must not have moved on either.
        What the client does not say is checked against the last confirmation."""
        if shown_generation is not None:
            local_changed = shown_generation != self.generation
        else:
            local_changed = self.remote_revision == 0
        if local_changed or choice is Resolution.REMOTE:
            return local_changed
        remote = self.remote_revision if shown_revision is None else shown_revision
        return remote != current_revision

    def confirm(self, current_revision: int) -> None:
        """Both sides as they are now have been shown (listed): a resolution may apply to
        them until either side changes."""
        self.remote_revision = current_revision

    def close(self, resolution: Resolution, now: datetime) -> None:
        if not self.is_open:
            raise ValidationFailed("conflict", "conflict is already resolved")
        self.resolution = resolution
        self.resolved_at = now


@dataclass(frozen=True, slots=True)
class UploadContext:
    """What the conflict rules need to know about an entry when a version of it arrives."""

    entry: Entry
    known_revision: int | None
    open_conflict: Conflict | None
    delivered_revision: int | None
    history: tuple[KeptRevision, ...] = ()


class Outcome(enum.Enum):
    CREATED = "created"
    ACCEPTED = "accepted"
    UNCHANGED = "unchanged"
    CONFLICT = "conflict"
    CONFLICT_REFRESHED = "conflict_refreshed"
    CONFLICT_REPEATED = "conflict_repeated"
    BLOCKED_BY_CONFLICT = "blocked_by_conflict"


@dataclass(frozen=True, slots=True)
class Upload:
    entry_id: uuid.UUID
    version: EntryVersion
    base_revision: int | None = None

    def __post_init__(self) -> None:
        if self.base_revision is not None and self.base_revision < 1:
            raise ValidationFailed("base_revision", "base_revision must be at least 1")


def decide_upload(
    entry: Entry | None,
    upload: Upload,
    *,
    delivered_revision: int | None,
    known_revision: int | None,
    open_conflict: Conflict | None,
) -> Outcome:
    """The conflict rules, as one pure decision.

    ``delivered_revision``: the newest revision of this entry the server has sent to the
    uploading device. ``known_revision``: the revision whose version had this exact ciphertext
    and IV, if any (a retry). ``open_conflict``: the entry's unresolved conflict, if any.
    """
    if entry is None:
        return Outcome.CREATED
    if known_revision is not None:
        return Outcome.UNCHANGED
    fingerprint = upload.version.fingerprint
    if open_conflict is not None and open_conflict.local.fingerprint == fingerprint:
        return Outcome.CONFLICT_REPEATED
    if entry.deleted:
        # Editing beats deleting: a write to a tombstone brings the entry back, so no
        # user-written text is lost to a delete its author did not know about.
        return Outcome.ACCEPTED
    if upload.base_revision is not None:
        if upload.base_revision > entry.revision:
            raise BaseRevisionAhead(
                f"base_revision {upload.base_revision} is ahead of the server's {entry.revision}"
            )
        seen = upload.base_revision == entry.revision
    else:
        device = upload.version.device_id
        seen = device == entry.device_id or (
            delivered_revision is not None and delivered_revision >= entry.revision
        )
    if seen:
        return Outcome.ACCEPTED
    if open_conflict is None:
        return Outcome.CONFLICT
    if open_conflict.local.device_id == upload.version.device_id:
        return Outcome.CONFLICT_REFRESHED
    return Outcome.BLOCKED_BY_CONFLICT
