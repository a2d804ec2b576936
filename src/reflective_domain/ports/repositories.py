"""Repository ports. Every method is scoped by ``user_id``: no query can reach another user's rows.

Adapters map rows to domain objects by hand; domain objects never touch an ORM.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol

from reflective_domain.accounts import AccountState, User
from reflective_domain.entries import (
    Conflict,
    Entry,
    HistoryChange,
    KeptRevision,
    Revision,
    UploadContext,
)
from reflective_domain.metrics import EncryptedMetric, Period, Rollup
from reflective_domain.packed import PackedWindow
from reflective_domain.sessions import RefreshToken
from reflective_domain.tags import Tag
from reflective_domain.throttling import LoginAttempts


class UserRepository(Protocol):
    async def add(self, user: User) -> None:
        """Raise AlreadyExists when the email is taken (even by a concurrent writer)."""
        ...

    async def get(self, user_id: uuid.UUID, *, with_he_key: bool = True) -> User | None:
        """The whole account; without ``with_he_key`` its HE public key (large) is not read
        and ``he_public_key`` is None, and saving that user leaves the stored key as it is."""
        ...

    async def get_by_email(self, email: str, *, with_he_key: bool = True) -> User | None: ...

    async def save(self, user: User) -> None:
        """Persist changes; raise ConcurrentUpdate when someone saved it since it was read, and
        AlreadyExists when a changed email is taken."""
        ...

    async def state(self, user_id: uuid.UUID, *, lock: bool = False) -> AccountState | None:
        """The account's sync state in one read; ``lock`` also serializes this transaction
        with every other writer of the user's data until commit (as ``lock``)."""
        ...

    async def lock(self, user_id: uuid.UUID) -> None:
        """Serialize this transaction with every other writer of the user's data until commit."""
        ...

    async def next_change_seq(
        self, user_id: uuid.UUID, stored_delta: int = 0, *, count: int = 1
    ) -> int:
        """Allocate the user's next ``count`` change sequence numbers (1, 2, ...), committing
        in order, and add ``stored_delta`` to the account's stored bytes in the same step;
        return the last number allocated (the range is ``last - count + 1 .. last``)."""
        ...

    async def add_stored_bytes(self, user_id: uuid.UUID, delta: int) -> None: ...

    async def clear_stored_bytes(self, user_id: uuid.UUID, tag_bytes: int) -> None:
        """The account holds no entry, no conflict and no kept version any more: only its
        tags' ``tag_bytes`` stay counted."""
        ...

    async def current_change_seq(self, user_id: uuid.UUID) -> int: ...

    async def delete(self, user_id: uuid.UUID) -> None:
        """Remove the user and, by cascade, every row of theirs."""
        ...


class TagRepository(Protocol):
    """Every write here keeps the user's stored bytes (``users.stored_bytes``) in step with
    the tags it adds, changes or removes (``Tag.size`` each), in the same statement where it
    can."""

    async def add_or_get(self, tag: Tag) -> tuple[Tag, bool]:
        """Insert ``tag`` unless the user has one with the same normalised name; return the
        stored tag and whether it was created (its size then joins the user's stored bytes).
        Safe under concurrent calls."""
        ...

    async def get(self, user_id: uuid.UUID, tag_id: uuid.UUID) -> Tag | None: ...

    async def list(
        self, user_id: uuid.UUID, limit: int | None = None, offset: int = 0
    ) -> list[Tag]:
        """By name; ``limit`` and ``offset`` page through them."""
        ...

    async def count(self, user_id: uuid.UUID) -> int: ...

    async def stored_bytes(self, user_id: uuid.UUID) -> int:
        """What the user's tags count against the storage quota."""
        ...

    async def save(self, tag: Tag, stored_delta: int = 0) -> None:
        """Store ``tag`` and add ``stored_delta`` (what a rename changed its size by) to the
        user's stored bytes. Raise AlreadyExists when a rename collides with another tag's
        name."""
        ...

    async def delete(self, user_id: uuid.UUID, tag_id: uuid.UUID) -> bool:
        """Whether the tag was there; its size leaves the user's stored bytes."""
        ...

    async def delete_unused_since(self, user_id: uuid.UUID, cutoff: datetime) -> int:
        """Delete tags last used (or, never used, created) at or before ``cutoff``; their
        sizes leave the user's stored bytes."""
        ...


class EntryRepository(Protocol):
    async def get(self, user_id: uuid.UUID, entry_id: uuid.UUID) -> Entry | None: ...

    async def add(self, entry: Entry) -> None: ...

    async def create(self, entry: Entry, fingerprint: bytes, stored_delta: int) -> None:
        """A new entry in one write: store it (AlreadyExists if its id is taken) with the
        revision its version (``fingerprint``) was accepted as, and move the user's change
        sequence to ``entry.change_seq`` and their stored bytes by ``stored_delta``. The
        caller holds the user's lock, so the sequence stands at ``entry.change_seq - 1``
        (ConcurrentUpdate otherwise)."""
        ...

    async def save(self, entry: Entry, history: HistoryChange | None = None) -> None:
        """Persist ``entry``; with ``history``, in the same step, first keep the version the
        entry had before (``history.kept``, copied as stored) and drop the ``pruned``
        revisions of its history."""
        ...

    async def remember_revision(self, entry: Entry, fingerprint: bytes) -> None:
        """Record that ``entry.revision`` had the version with ``fingerprint``."""
        ...

    async def revision_with(
        self, user_id: uuid.UUID, entry_id: uuid.UUID, fingerprint: bytes
    ) -> int | None:
        """The revision an exact version (by fingerprint) was accepted as, if any."""
        ...

    async def upload_context(
        self, user_id: uuid.UUID, entry_id: uuid.UUID, fingerprint: bytes, device_id: str
    ) -> UploadContext | None:
        """The entry with, in one read, ``revision_with(fingerprint)``, its open conflict,
        the revision delivered to ``device_id`` and its ``history``; None when the entry is
        unknown."""
        ...

    async def upload_contexts(
        self, user_id: uuid.UUID, uploads: Sequence[tuple[uuid.UUID, bytes, str]]
    ) -> dict[uuid.UUID, UploadContext]:
        """``upload_context`` for each (entry id, fingerprint, device id), in one read, by
        entry id; unknown entries are left out."""
        ...

    async def save_many(
        self, entries: Sequence[Entry], history: Sequence[HistoryChange] = ()
    ) -> None:
        """``save`` each (new or existing) entry, in one round trip, after applying the
        ``history`` changes of some of them (in one more)."""
        ...

    async def history(self, user_id: uuid.UUID, entry_id: uuid.UUID) -> list[KeptRevision]:
        """The entry's kept versions, without their ciphertexts (for retention)."""
        ...

    async def revisions(
        self, user_id: uuid.UUID, entry_id: uuid.UUID, *, before: int | None, limit: int
    ) -> list[Revision]:
        """Up to ``limit`` kept versions of the entry, newest first, those with a revision
        below ``before`` when given."""
        ...

    async def delete_history(self, user_id: uuid.UUID, entry_id: uuid.UUID) -> int:
        """Remove the entry's kept versions; return the bytes they counted (``size``)."""
        ...

    async def revisions_page(
        self, user_id: uuid.UUID, after: tuple[uuid.UUID, int] | None, limit: int
    ) -> list[Revision]:
        """Up to ``limit`` kept versions of any entry, by (entry id, revision), those after
        ``after`` (the export reads them a page at a time)."""
        ...

    async def remember_revisions(self, written: Sequence[tuple[Entry, bytes]]) -> None:
        """``remember_revision`` for each (entry, fingerprint), in one round trip."""
        ...

    async def get_many(self, user_id: uuid.UUID, entry_ids: Sequence[uuid.UUID]) -> list[Entry]:
        """Those of these entries that exist, in no particular order."""
        ...

    async def changes_after(self, user_id: uuid.UUID, change_seq: int, limit: int) -> list[Entry]:
        """Entries, tombstones included, whose latest change is after ``change_seq``, in
        change order."""
        ...

    async def change_page(
        self, user_id: uuid.UUID, change_seq: int, limit: int, *, deliver_to: str | None = None
    ) -> tuple[list[Entry], bool]:
        """At most ``limit`` of ``changes_after`` and whether more follow; with
        ``deliver_to``, the page is recorded as sent to that device in the same round trip
        (as ``DeliveryRepository.record``)."""
        ...

    async def list_live(
        self,
        user_id: uuid.UUID,
        *,
        synced_after: datetime | None,
        exclude_device: str | None,
        limit: int,
        offset: int,
        deliver_to: str | None = None,
    ) -> tuple[list[Entry], int]:
        """Live entries (no tombstones) by ``synced_at`` then id, and how many match in all;
        with ``deliver_to``, the page is recorded as sent to that device in the same round
        trip (as ``DeliveryRepository.record``)."""
        ...

    async def count_live(self, user_id: uuid.UUID) -> int: ...

    async def stored_bytes(self, user_id: uuid.UUID) -> int: ...

    async def creation_times(
        self, user_id: uuid.UUID, since: datetime | None = None
    ) -> list[datetime]:
        """Creation times of live entries, those at or after ``since`` when given."""
        ...

    async def count_and_creation_times(
        self, user_id: uuid.UUID, since: datetime
    ) -> tuple[int, list[datetime]]:
        """``count_live`` and ``creation_times(since)`` in one round trip."""
        ...

    async def all(self, user_id: uuid.UUID) -> list[Entry]:
        """Every entry, tombstones included (for export)."""
        ...

    async def page_by_id(
        self, user_id: uuid.UUID, after: uuid.UUID | None, limit: int
    ) -> list[Entry]:
        """Up to ``limit`` entries, tombstones included, by id, those after ``after`` (the
        export reads them a page at a time)."""
        ...

    async def delete_all(self, user_id: uuid.UUID) -> int:
        """Remove every entry row (with its revision fingerprints and kept versions); return
        how many were live."""
        ...


class ConflictRepository(Protocol):
    async def get(self, user_id: uuid.UUID, conflict_id: uuid.UUID) -> Conflict | None: ...

    async def open_for_entry(self, user_id: uuid.UUID, entry_id: uuid.UUID) -> Conflict | None: ...

    async def add(self, conflict: Conflict) -> None: ...

    async def save(self, conflict: Conflict) -> None: ...

    async def list_open(
        self, user_id: uuid.UUID, *, limit: int, offset: int = 0
    ) -> tuple[list[Conflict], int]:
        """A page of unresolved conflicts, oldest first, and how many are open in all."""
        ...

    async def confirm_listed(
        self, user_id: uuid.UUID, conflict_ids: Sequence[uuid.UUID]
    ) -> list[Entry]:
        """Confirm each of these conflicts that is still open against its entry's current
        revision (``Conflict.confirm``), in one write for the page, and return those entries:
        the remote sides exactly as they are being shown."""
        ...

    async def all(self, user_id: uuid.UUID) -> list[Conflict]: ...

    async def page_by_id(
        self, user_id: uuid.UUID, after: uuid.UUID | None, limit: int
    ) -> list[Conflict]:
        """Up to ``limit`` conflicts (open or not), by id, those after ``after``."""
        ...

    async def delete_all(self, user_id: uuid.UUID) -> int:
        """Remove every conflict; return how many were open."""
        ...


class DeliveryLog(Protocol):
    """What the server has sent to each of a user's devices (rule 4 of the conflict rules)."""

    async def record(
        self, user_id: uuid.UUID, device_id: str, revisions: Sequence[tuple[uuid.UUID, int]]
    ) -> None:
        """Remember that ``device_id`` was sent these (entry id, revision) pairs."""
        ...

    async def delivered_revision(
        self, user_id: uuid.UUID, device_id: str, entry_id: uuid.UUID
    ) -> int | None: ...

    async def delete_all(self, user_id: uuid.UUID) -> None: ...


class MetricRepository(Protocol):
    async def lock_writes(self, user_id: uuid.UUID) -> None:
        """Serialize this transaction with the user's other metric writers until it ends
        (uploads, replacements, retractions), without blocking the user's entry sync. Whoever
        also locks the user row takes that lock first."""
        ...

    async def add_many(self, metrics: Sequence[EncryptedMetric]) -> None: ...

    async def with_log_ids(
        self, user_id: uuid.UUID, log_ids: Sequence[str]
    ) -> list[EncryptedMetric]:
        """The stored metrics naming any of these entries, every type."""
        ...

    async def of_entries(self, user_id: uuid.UUID, limit: int) -> list[EncryptedMetric]:
        """Up to ``limit`` metrics whose ``log_id`` is one of the user's stored entries."""
        ...

    async def delete_many(self, user_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> None: ...

    async def delete_rollups(
        self, user_id: uuid.UUID, keys: Sequence[tuple[str, Period, date]]
    ) -> None:
        """Remove the rollups of these (metric type, period, start) keys."""
        ...

    async def stored_bytes(self, user_id: uuid.UUID) -> int:
        """What the user's metrics use of their quota (see ``metric_bytes``)."""
        ...

    async def day_counts(
        self, user_id: uuid.UUID, metric_type: str, days: Sequence[date]
    ) -> dict[date, int]:
        """How many raw metrics each of these UTC days holds (days with none left out)."""
        ...

    async def on_days(
        self, user_id: uuid.UUID, metric_type: str, days: Sequence[date]
    ) -> list[EncryptedMetric]:
        """The raw metrics of these UTC days."""
        ...

    async def without_day_rollup(
        self, user_id: uuid.UUID, metric_type: str, first: date, last: date
    ) -> list[EncryptedMetric]:
        """Raw metrics of the UTC days first..last (inclusive) that have no day rollup."""
        ...

    async def known_upload_keys(self, user_id: uuid.UUID, keys: Sequence[bytes]) -> set[bytes]:
        """Which of these upload keys the user's stored metrics already have."""
        ...

    async def rollups(
        self, user_id: uuid.UUID, metric_type: str, period: Period, starts: Sequence[date]
    ) -> list[Rollup]:
        """The rollups of exactly these periods (by start day) that exist."""
        ...

    async def rollups_between(
        self,
        user_id: uuid.UUID,
        metric_type: str,
        period: Period,
        first: date | None,
        last: date | None,
    ) -> list[Rollup]:
        """Rollups of one period kind whose start is in [first, last], by start; an open end
        when None."""
        ...

    async def save_rollups(self, rollups: Sequence[Rollup]) -> None:
        """Insert or replace each (user, metric type, period, start) rollup."""
        ...

    async def in_range(
        self, user_id: uuid.UUID, metric_type: str, start: datetime, end: datetime
    ) -> list[EncryptedMetric]:
        """Raw metrics with start <= timestamp <= end."""
        ...

    async def count(self, user_id: uuid.UUID) -> int: ...

    async def all(self, user_id: uuid.UUID) -> list[EncryptedMetric]: ...

    async def page_by_id(
        self, user_id: uuid.UUID, after: uuid.UUID | None, limit: int
    ) -> list[EncryptedMetric]:
        """Up to ``limit`` metrics, by id, those after ``after``."""
        ...

    async def delete_all(self, user_id: uuid.UUID) -> int:
        """Remove every metric and rollup; return how many metrics there were."""
        ...


class PackedMetricRepository(Protocol):
    """Packed metrics: one running encrypted sum per user, metric type and year. Writers
    serialize on the metric writers' lock (``MetricRepository.lock_writes``)."""

    async def windows(
        self, user_id: uuid.UUID, keys: Sequence[tuple[str, int]]
    ) -> list[PackedWindow]:
        """The stored windows of these (metric type, year) keys that exist."""
        ...

    async def between(
        self, user_id: uuid.UUID, metric_type: str, first: int | None, last: int | None
    ) -> list[PackedWindow]:
        """Windows of one type whose year is in [first, last], by year; open when None."""
        ...

    async def save(self, windows: Sequence[PackedWindow]) -> None:
        """Insert or replace each (user, metric type, year) window."""
        ...

    async def known_upload_keys(self, user_id: uuid.UUID, keys: Sequence[bytes]) -> set[bytes]:
        """Which of these upload keys were stored before."""
        ...

    async def add_upload_keys(self, user_id: uuid.UUID, keys: Sequence[bytes]) -> None: ...

    async def stored_bytes(self, user_id: uuid.UUID) -> int:
        """What the user's packed metrics use of the metric quota (windows and upload keys)."""
        ...

    async def all(self, user_id: uuid.UUID) -> list[PackedWindow]: ...

    async def page(
        self, user_id: uuid.UUID, after: tuple[str, int] | None, limit: int
    ) -> list[PackedWindow]:
        """Up to ``limit`` windows by (metric type, year), those after ``after``."""
        ...

    async def delete_all(self, user_id: uuid.UUID) -> int:
        """Remove every window and upload key; return how many windows there were."""
        ...


class RefreshTokenRepository(Protocol):
    async def add(self, token: RefreshToken) -> None: ...

    async def by_hash(self, token_hash: bytes) -> RefreshToken | None: ...

    async def save(self, token: RefreshToken) -> None: ...

    async def revoke_family(self, family_id: uuid.UUID, now: datetime) -> None: ...

    async def revoke_all(self, user_id: uuid.UUID, now: datetime) -> None: ...

    async def live(
        self, user_id: uuid.UUID, now: datetime, *, limit: int | None = None, offset: int = 0
    ) -> list[RefreshToken]:
        """The user's refresh tokens that can still be used (one per live session), newest
        session first; with ``limit``, that many after skipping ``offset``."""
        ...

    async def count_live(self, user_id: uuid.UUID, now: datetime) -> int:
        """How many tokens ``live`` would return without a limit."""
        ...


class LoginAttemptRepository(Protocol):
    """Failed sign-ins by hashed key. Shared by every worker, so limits hold across them."""

    async def get(self, key: bytes) -> LoginAttempts | None: ...

    async def get_for_update(self, key: bytes, now: datetime) -> LoginAttempts:
        """The key's record, created empty if missing, locked until commit."""
        ...

    async def save(self, attempts: LoginAttempts) -> None: ...

    async def prune(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` counters whose window started before ``before`` and that
        lock nothing now; return how many went."""
        ...

    async def clear(self, key: bytes) -> None: ...
