"""Repository ports over plain dictionaries. Reads return copies, writes store copies, so a
domain object changed but not saved leaves the store untouched, as with a database."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any, Protocol, TypeVar

from reflective_adapters.memory.store import Tables
from reflective_domain.accounts import AccountState, User
from reflective_domain.entries import (
    Conflict,
    Entry,
    HistoryChange,
    KeptRevision,
    Revision,
    UploadContext,
)
from reflective_domain.errors import AlreadyExists, ConcurrentUpdate, EmailTaken
from reflective_domain.metrics import EncryptedMetric, Period, Rollup, metric_bytes
from reflective_domain.packed import PACKED_UPLOAD_KEY_BYTES, PackedWindow, window_bytes
from reflective_domain.sessions import RefreshToken
from reflective_domain.tags import Tag
from reflective_domain.throttling import LoginAttempts

T = TypeVar("T")


def _copy(obj: T) -> T:
    return copy.deepcopy(obj)


class MemoryUsers:
    def __init__(self, tables: Tables) -> None:
        self._t = tables
        self._loaded: dict[uuid.UUID, int] = {}
        self._keyless: set[uuid.UUID] = set()

    def _email_taken(self, email: str, by_other_than: uuid.UUID) -> bool:
        return any(u.email == email and u.id != by_other_than for u in self._t.users.values())

    async def add(self, user: User) -> None:
        if self._email_taken(user.email, user.id):
            raise EmailTaken("Email already registered")
        self._t.users[user.id] = _copy(user)
        self._t.change_seqs[user.id] = 0
        self._t.stored_bytes[user.id] = 0
        self._loaded[user.id] = user.version

    async def get(self, user_id: uuid.UUID, *, with_he_key: bool = True) -> User | None:
        user = self._t.users.get(user_id)
        if user is None:
            return None
        self._loaded[user_id] = user.version
        # As the PostgreSQL adapter: without with_he_key the key is not read.
        if with_he_key:
            self._keyless.discard(user_id)
            return _copy(user)
        self._keyless.add(user_id)
        return replace(_copy(user), he_public_key=None)

    async def get_by_email(self, email: str, *, with_he_key: bool = True) -> User | None:
        for user in self._t.users.values():
            if user.email == email:
                return await self.get(user.id, with_he_key=with_he_key)
        return None

    async def state(self, user_id: uuid.UUID, *, lock: bool = False) -> AccountState | None:
        # Units of work are already serialized by the store's lock.
        user = self._t.users.get(user_id)
        if user is None:
            return None
        return AccountState(
            id=user.id,
            privacy_tier=user.privacy_tier,
            sessions_revoked_at=user.sessions_revoked_at,
            change_seq=self._t.change_seqs.get(user_id, 0),
            stored_bytes=self._t.stored_bytes.get(user_id, 0),
            disabled=user.disabled,
        )

    async def save(self, user: User) -> None:
        stored = self._t.users.get(user.id)
        if stored is None or stored.version != self._loaded.get(user.id, user.version):
            raise ConcurrentUpdate("the account was changed by another request; try again")
        if self._email_taken(user.email, user.id):
            raise EmailTaken("Email already registered")
        saved = _copy(user)
        if user.id in self._keyless:
            saved.he_public_key = stored.he_public_key
        self._t.users[user.id] = saved
        self._loaded[user.id] = user.version

    async def lock(self, user_id: uuid.UUID) -> None:
        # Units of work are already serialized by the store's lock.
        return None

    async def next_change_seq(
        self, user_id: uuid.UUID, stored_delta: int = 0, *, count: int = 1
    ) -> int:
        self._t.change_seqs[user_id] += count
        await self.add_stored_bytes(user_id, stored_delta)
        return self._t.change_seqs[user_id]

    async def add_stored_bytes(self, user_id: uuid.UUID, delta: int) -> None:
        total = self._t.stored_bytes.get(user_id, 0) + delta
        if total < 0:
            raise ValueError("stored bytes cannot be negative")  # the database's CHECK
        self._t.stored_bytes[user_id] = total

    async def clear_stored_bytes(self, user_id: uuid.UUID, tag_bytes: int) -> None:
        self._t.stored_bytes[user_id] = tag_bytes

    async def current_change_seq(self, user_id: uuid.UUID) -> int:
        return self._t.change_seqs.get(user_id, 0)

    async def delete(self, user_id: uuid.UUID) -> None:
        t = self._t
        t.users.pop(user_id, None)
        t.change_seqs.pop(user_id, None)
        t.stored_bytes.pop(user_id, None)
        by_owner: list[dict[Any, Any]] = [t.tags, t.conflicts, t.metrics, t.refresh_tokens]
        for table in by_owner:
            for owned in [k for k, v in table.items() if v.user_id == user_id]:
                del table[owned]
        by_key: list[dict[Any, Any]] = [
            t.entries,
            t.fingerprints,
            t.history,
            t.deliveries,
            t.rollups,
            t.packed,
            t.packed_keys,
        ]
        for keyed in by_key:
            for key in [k for k in keyed if k[0] == user_id]:
                del keyed[key]


class _HasId(Protocol):
    @property
    def id(self) -> uuid.UUID: ...


_WithId = TypeVar("_WithId", bound=_HasId)


def _page_by_id(rows: list[_WithId], after: uuid.UUID | None, limit: int) -> list[_WithId]:
    ordered = sorted((r for r in rows if after is None or r.id > after), key=lambda r: r.id)
    return ordered[:limit]


def _tag_order(tag: Tag) -> tuple[str, str]:
    return (tag.key, str(tag.id))


class MemoryTags:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def _add_bytes(self, user_id: uuid.UUID, delta: int) -> None:
        total = self._t.stored_bytes.get(user_id, 0) + delta
        if total < 0:
            raise ValueError("stored bytes cannot be negative")  # the database's CHECK
        self._t.stored_bytes[user_id] = total

    def _by_key(
        self, user_id: uuid.UUID, key: str, other_than: uuid.UUID | None = None
    ) -> Tag | None:
        for tag in self._t.tags.values():
            if tag.user_id == user_id and tag.key == key and tag.id != other_than:
                return tag
        return None

    async def add_or_get(self, tag: Tag) -> tuple[Tag, bool]:
        existing = self._by_key(tag.user_id, tag.key)
        if existing is not None:
            return _copy(existing), False
        self._t.tags[tag.id] = _copy(tag)
        self._add_bytes(tag.user_id, tag.size)
        return _copy(tag), True

    async def get(self, user_id: uuid.UUID, tag_id: uuid.UUID) -> Tag | None:
        tag = self._t.tags.get(tag_id)
        return _copy(tag) if tag is not None and tag.user_id == user_id else None

    async def list(
        self, user_id: uuid.UUID, limit: int | None = None, offset: int = 0
    ) -> list[Tag]:
        tags = sorted((t for t in self._t.tags.values() if t.user_id == user_id), key=_tag_order)
        end = None if limit is None else offset + limit
        return [_copy(t) for t in tags[offset:end]]

    async def count(self, user_id: uuid.UUID) -> int:
        return sum(1 for t in self._t.tags.values() if t.user_id == user_id)

    async def stored_bytes(self, user_id: uuid.UUID) -> int:
        return sum(t.size for t in self._t.tags.values() if t.user_id == user_id)

    async def save(self, tag: Tag, stored_delta: int = 0) -> None:
        if self._by_key(tag.user_id, tag.key, other_than=tag.id) is not None:
            raise AlreadyExists(f"a tag named {tag.name!r} already exists")
        self._t.tags[tag.id] = _copy(tag)
        self._add_bytes(tag.user_id, stored_delta)

    async def delete(self, user_id: uuid.UUID, tag_id: uuid.UUID) -> bool:
        tag = self._t.tags.get(tag_id)
        if tag is None or tag.user_id != user_id:
            return False
        del self._t.tags[tag_id]
        self._add_bytes(user_id, -tag.size)
        return True

    async def delete_unused_since(self, user_id: uuid.UUID, cutoff: datetime) -> int:
        stale = [
            t.id
            for t in self._t.tags.values()
            if t.user_id == user_id and (t.last_used_at or t.created_at) <= cutoff
        ]
        for tag_id in stale:
            self._add_bytes(user_id, -self._t.tags.pop(tag_id).size)
        return len(stale)


class MemoryEntries:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def _of(self, user_id: uuid.UUID) -> list[Entry]:
        return [e for (uid, _), e in self._t.entries.items() if uid == user_id]

    async def get(self, user_id: uuid.UUID, entry_id: uuid.UUID) -> Entry | None:
        entry = self._t.entries.get((user_id, entry_id))
        return _copy(entry) if entry is not None else None

    async def add(self, entry: Entry) -> None:
        key = (entry.user_id, entry.id)
        if key in self._t.entries:
            raise AlreadyExists("entry already exists")
        self._t.entries[key] = _copy(entry)

    async def create(self, entry: Entry, fingerprint: bytes, stored_delta: int) -> None:
        if self._t.change_seqs.get(entry.user_id, 0) != entry.change_seq - 1:
            raise ConcurrentUpdate("the change sequence moved without the user's lock")
        await self.add(entry)
        self._t.change_seqs[entry.user_id] = entry.change_seq
        total = self._t.stored_bytes.get(entry.user_id, 0) + stored_delta
        if total < 0:
            raise ValueError("stored bytes cannot be negative")  # the database's CHECK
        self._t.stored_bytes[entry.user_id] = total
        await self.remember_revision(entry, fingerprint)

    async def save(self, entry: Entry, history: HistoryChange | None = None) -> None:
        if history is not None:
            self._apply(history)
        self._t.entries[(entry.user_id, entry.id)] = _copy(entry)

    def _apply(self, change: HistoryChange) -> None:
        if change.kept is not None:
            # As the PostgreSQL adapter: the version copied is the one stored, if it is that
            # revision.
            stored = self._t.entries.get((change.user_id, change.entry_id))
            if stored is not None and stored.revision == change.kept.revision and stored.version:
                key = (change.user_id, change.entry_id, change.kept.revision)
                self._t.history.setdefault(key, change.kept)
        for revision in change.pruned:
            self._t.history.pop((change.user_id, change.entry_id, revision), None)

    def _history_of(self, user_id: uuid.UUID, entry_id: uuid.UUID) -> list[Revision]:
        found = [
            r for (uid, eid, _), r in self._t.history.items() if (uid, eid) == (user_id, entry_id)
        ]
        return sorted(found, key=lambda r: r.revision, reverse=True)

    async def history(self, user_id: uuid.UUID, entry_id: uuid.UUID) -> list[KeptRevision]:
        return [r.summary for r in self._history_of(user_id, entry_id)]

    async def revisions(
        self, user_id: uuid.UUID, entry_id: uuid.UUID, *, before: int | None, limit: int
    ) -> list[Revision]:
        found = self._history_of(user_id, entry_id)
        return [r for r in found if before is None or r.revision < before][:limit]

    async def delete_history(self, user_id: uuid.UUID, entry_id: uuid.UUID) -> int:
        freed = 0
        for revision in self._history_of(user_id, entry_id):
            del self._t.history[(user_id, entry_id, revision.revision)]
            freed += revision.size
        return freed

    async def revisions_page(
        self, user_id: uuid.UUID, after: tuple[uuid.UUID, int] | None, limit: int
    ) -> list[Revision]:
        keys = sorted((eid, rev) for (uid, eid, rev) in self._t.history if uid == user_id)
        keys = [k for k in keys if after is None or k > after]
        return [self._t.history[(user_id, *k)] for k in keys[:limit]]

    async def remember_revision(self, entry: Entry, fingerprint: bytes) -> None:
        self._t.fingerprints.setdefault((entry.user_id, entry.id, fingerprint), entry.revision)

    async def revision_with(
        self, user_id: uuid.UUID, entry_id: uuid.UUID, fingerprint: bytes
    ) -> int | None:
        return self._t.fingerprints.get((user_id, entry_id, fingerprint))

    async def upload_context(
        self, user_id: uuid.UUID, entry_id: uuid.UUID, fingerprint: bytes, device_id: str
    ) -> UploadContext | None:
        entry = await self.get(user_id, entry_id)
        if entry is None:
            return None
        conflict = next(
            (
                c
                for c in self._t.conflicts.values()
                if c.user_id == user_id and c.entry_id == entry_id and c.is_open
            ),
            None,
        )
        return UploadContext(
            entry=entry,
            known_revision=await self.revision_with(user_id, entry_id, fingerprint),
            open_conflict=_copy(conflict) if conflict is not None else None,
            delivered_revision=self._t.deliveries.get((user_id, device_id, entry_id)),
            history=tuple(await self.history(user_id, entry_id)),
        )

    async def upload_contexts(
        self, user_id: uuid.UUID, uploads: Sequence[tuple[uuid.UUID, bytes, str]]
    ) -> dict[uuid.UUID, UploadContext]:
        found = {}
        for entry_id, fingerprint, device_id in uploads:
            context = await self.upload_context(user_id, entry_id, fingerprint, device_id)
            if context is not None:
                found[entry_id] = context
        return found

    async def save_many(
        self, entries: Sequence[Entry], history: Sequence[HistoryChange] = ()
    ) -> None:
        for change in history:
            self._apply(change)
        for entry in entries:
            await self.save(entry)

    async def remember_revisions(self, written: Sequence[tuple[Entry, bytes]]) -> None:
        for entry, fingerprint in written:
            await self.remember_revision(entry, fingerprint)

    async def get_many(self, user_id: uuid.UUID, entry_ids: Sequence[uuid.UUID]) -> list[Entry]:
        found = (self._t.entries.get((user_id, entry_id)) for entry_id in set(entry_ids))
        return [_copy(e) for e in found if e is not None]

    async def changes_after(self, user_id: uuid.UUID, change_seq: int, limit: int) -> list[Entry]:
        changed = sorted(
            (e for e in self._of(user_id) if e.change_seq > change_seq), key=lambda e: e.change_seq
        )
        return [_copy(e) for e in changed[:limit]]

    async def change_page(
        self, user_id: uuid.UUID, change_seq: int, limit: int, *, deliver_to: str | None = None
    ) -> tuple[list[Entry], bool]:
        found = await self.changes_after(user_id, change_seq, limit + 1)
        page = found[:limit]
        self._deliver(user_id, deliver_to, page)
        return page, len(found) > limit

    def _deliver(self, user_id: uuid.UUID, device_id: str | None, page: list[Entry]) -> None:
        if device_id is None:
            return
        for entry in page:
            key = (user_id, device_id, entry.id)
            self._t.deliveries[key] = max(entry.revision, self._t.deliveries.get(key, 0))

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
        live = [
            e
            for e in self._of(user_id)
            if not e.deleted
            and (synced_after is None or e.synced_at > synced_after)
            and (exclude_device is None or e.device_id != exclude_device)
        ]
        live.sort(key=lambda e: (e.synced_at, e.id))
        page = [_copy(e) for e in live[offset : offset + limit]]
        self._deliver(user_id, deliver_to, page)
        return page, len(live)

    async def count_live(self, user_id: uuid.UUID) -> int:
        return sum(1 for e in self._of(user_id) if not e.deleted)

    async def count_and_creation_times(
        self, user_id: uuid.UUID, since: datetime
    ) -> tuple[int, list[datetime]]:
        return await self.count_live(user_id), await self.creation_times(user_id, since)

    async def stored_bytes(self, user_id: uuid.UUID) -> int:
        return sum(e.version.size for e in self._of(user_id) if e.version is not None)

    async def creation_times(
        self, user_id: uuid.UUID, since: datetime | None = None
    ) -> list[datetime]:
        return sorted(
            e.version.created_at
            for e in self._of(user_id)
            if e.version is not None and (since is None or e.version.created_at >= since)
        )

    async def all(self, user_id: uuid.UUID) -> list[Entry]:
        return [_copy(e) for e in sorted(self._of(user_id), key=lambda e: e.change_seq)]

    async def page_by_id(
        self, user_id: uuid.UUID, after: uuid.UUID | None, limit: int
    ) -> list[Entry]:
        return [_copy(e) for e in _page_by_id(self._of(user_id), after, limit)]

    async def delete_all(self, user_id: uuid.UUID) -> int:
        live = await self.count_live(user_id)
        for key in [k for k in self._t.entries if k[0] == user_id]:
            del self._t.entries[key]
        for fkey in [k for k in self._t.fingerprints if k[0] == user_id]:
            del self._t.fingerprints[fkey]
        for hkey in [k for k in self._t.history if k[0] == user_id]:
            del self._t.history[hkey]
        return live


class MemoryConflicts:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def _of(self, user_id: uuid.UUID) -> list[Conflict]:
        return [c for c in self._t.conflicts.values() if c.user_id == user_id]

    async def get(self, user_id: uuid.UUID, conflict_id: uuid.UUID) -> Conflict | None:
        conflict = self._t.conflicts.get(conflict_id)
        return _copy(conflict) if conflict is not None and conflict.user_id == user_id else None

    async def open_for_entry(self, user_id: uuid.UUID, entry_id: uuid.UUID) -> Conflict | None:
        for conflict in self._of(user_id):
            if conflict.entry_id == entry_id and conflict.is_open:
                return _copy(conflict)
        return None

    async def add(self, conflict: Conflict) -> None:
        if await self.open_for_entry(conflict.user_id, conflict.entry_id) is not None:
            raise AlreadyExists("entry already has an open conflict")
        self._t.conflicts[conflict.id] = _copy(conflict)

    async def save(self, conflict: Conflict) -> None:
        self._t.conflicts[conflict.id] = _copy(conflict)

    async def list_open(
        self, user_id: uuid.UUID, *, limit: int, offset: int = 0
    ) -> tuple[list[Conflict], int]:
        found = sorted(
            (c for c in self._of(user_id) if c.is_open), key=lambda c: (c.detected_at, c.id)
        )
        return [_copy(c) for c in found[offset : offset + limit]], len(found)

    async def confirm_listed(
        self, user_id: uuid.UUID, conflict_ids: Sequence[uuid.UUID]
    ) -> list[Entry]:
        shown = []
        for conflict_id in conflict_ids:
            conflict = self._t.conflicts.get(conflict_id)
            if conflict is None or conflict.user_id != user_id or not conflict.is_open:
                continue
            entry = self._t.entries.get((user_id, conflict.entry_id))
            if entry is None:
                continue
            confirmed = _copy(conflict)
            confirmed.confirm(entry.revision)
            self._t.conflicts[conflict_id] = confirmed
            shown.append(_copy(entry))
        return shown

    async def all(self, user_id: uuid.UUID) -> list[Conflict]:
        return [_copy(c) for c in sorted(self._of(user_id), key=lambda c: (c.detected_at, c.id))]

    async def page_by_id(
        self, user_id: uuid.UUID, after: uuid.UUID | None, limit: int
    ) -> list[Conflict]:
        return [_copy(c) for c in _page_by_id(self._of(user_id), after, limit)]

    async def delete_all(self, user_id: uuid.UUID) -> int:
        mine = self._of(user_id)
        for conflict in mine:
            del self._t.conflicts[conflict.id]
        return sum(1 for c in mine if c.is_open)


class MemoryDeliveries:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def record(
        self, user_id: uuid.UUID, device_id: str, revisions: Sequence[tuple[uuid.UUID, int]]
    ) -> None:
        for entry_id, revision in revisions:
            key = (user_id, device_id, entry_id)
            self._t.deliveries[key] = max(revision, self._t.deliveries.get(key, 0))

    async def delivered_revision(
        self, user_id: uuid.UUID, device_id: str, entry_id: uuid.UUID
    ) -> int | None:
        return self._t.deliveries.get((user_id, device_id, entry_id))

    async def delete_all(self, user_id: uuid.UUID) -> None:
        for key in [k for k in self._t.deliveries if k[0] == user_id]:
            del self._t.deliveries[key]


class MemoryMetrics:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def _of(self, user_id: uuid.UUID, metric_type: str | None = None) -> list[EncryptedMetric]:
        return [
            m
            for m in self._t.metrics.values()
            if m.user_id == user_id and (metric_type is None or m.metric_type == metric_type)
        ]

    async def lock_writes(self, user_id: uuid.UUID) -> None:
        """Units of work on the memory store already run one at a time."""

    async def add_many(self, metrics: Sequence[EncryptedMetric]) -> None:
        for metric in metrics:
            self._t.metrics[metric.id] = metric

    async def with_log_ids(
        self, user_id: uuid.UUID, log_ids: Sequence[str]
    ) -> list[EncryptedMetric]:
        wanted = set(log_ids)
        return [m for m in self._of(user_id) if m.log_id is not None and m.log_id in wanted]

    async def of_entries(self, user_id: uuid.UUID, limit: int) -> list[EncryptedMetric]:
        entries = {str(eid) for (uid, eid) in self._t.entries if uid == user_id}
        return [m for m in self._of(user_id) if m.log_id in entries][:limit]

    async def delete_many(self, user_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> None:
        for metric_id in ids:
            metric = self._t.metrics.get(metric_id)
            if metric is not None and metric.user_id == user_id:
                del self._t.metrics[metric_id]

    async def delete_rollups(
        self, user_id: uuid.UUID, keys: Sequence[tuple[str, Period, date]]
    ) -> None:
        for metric_type, period, start in keys:
            self._t.rollups.pop((user_id, metric_type, period, start), None)

    async def stored_bytes(self, user_id: uuid.UUID) -> int:
        return sum(metric_bytes(m) for m in self._of(user_id))

    async def day_counts(
        self, user_id: uuid.UUID, metric_type: str, days: Sequence[date]
    ) -> dict[date, int]:
        wanted = set(days)
        counts: dict[date, int] = {}
        for m in self._of(user_id, metric_type):
            if m.day in wanted:
                counts[m.day] = counts.get(m.day, 0) + 1
        return counts

    async def on_days(
        self, user_id: uuid.UUID, metric_type: str, days: Sequence[date]
    ) -> list[EncryptedMetric]:
        wanted = set(days)
        return [m for m in self._of(user_id, metric_type) if m.day in wanted]

    async def without_day_rollup(
        self, user_id: uuid.UUID, metric_type: str, first: date, last: date
    ) -> list[EncryptedMetric]:
        return [
            m
            for m in self._of(user_id, metric_type)
            if first <= m.day <= last
            and (user_id, metric_type, Period.DAY, m.day) not in self._t.rollups
        ]

    async def known_upload_keys(self, user_id: uuid.UUID, keys: Sequence[bytes]) -> set[bytes]:
        held = {m.upload_key for m in self._of(user_id) if m.upload_key is not None}
        return held & set(keys)

    async def rollups(
        self, user_id: uuid.UUID, metric_type: str, period: Period, starts: Sequence[date]
    ) -> list[Rollup]:
        found = (self._t.rollups.get((user_id, metric_type, period, s)) for s in starts)
        return [r for r in found if r is not None]

    async def rollups_between(
        self,
        user_id: uuid.UUID,
        metric_type: str,
        period: Period,
        first: date | None,
        last: date | None,
    ) -> list[Rollup]:
        return sorted(
            (
                r
                for (uid, mtype, kind, start), r in self._t.rollups.items()
                if uid == user_id
                and mtype == metric_type
                and kind is period
                and (first is None or start >= first)
                and (last is None or start <= last)
            ),
            key=lambda r: r.start,
        )

    async def save_rollups(self, rollups: Sequence[Rollup]) -> None:
        for r in rollups:
            self._t.rollups[(r.user_id, r.metric_type, r.period, r.start)] = r

    async def in_range(
        self, user_id: uuid.UUID, metric_type: str, start: datetime, end: datetime
    ) -> list[EncryptedMetric]:
        found = [m for m in self._of(user_id, metric_type) if start <= m.timestamp <= end]
        return sorted(found, key=lambda m: (m.timestamp, m.id))

    async def count(self, user_id: uuid.UUID) -> int:
        return len(self._of(user_id))

    async def all(self, user_id: uuid.UUID) -> list[EncryptedMetric]:
        return sorted(self._of(user_id), key=lambda m: (m.timestamp, m.id))

    async def page_by_id(
        self, user_id: uuid.UUID, after: uuid.UUID | None, limit: int
    ) -> list[EncryptedMetric]:
        return _page_by_id(self._of(user_id), after, limit)

    async def delete_all(self, user_id: uuid.UUID) -> int:
        mine = self._of(user_id)
        for metric in mine:
            del self._t.metrics[metric.id]
        for key in [k for k in self._t.rollups if k[0] == user_id]:
            del self._t.rollups[key]
        return len(mine)


class MemoryRefreshTokens:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def add(self, token: RefreshToken) -> None:
        self._t.refresh_tokens[token.id] = _copy(token)

    async def by_hash(self, token_hash: bytes) -> RefreshToken | None:
        for token in self._t.refresh_tokens.values():
            if token.token_hash == token_hash:
                return _copy(token)
        return None

    async def save(self, token: RefreshToken) -> None:
        self._t.refresh_tokens[token.id] = _copy(token)

    async def revoke_family(self, family_id: uuid.UUID, now: datetime) -> None:
        for token in self._t.refresh_tokens.values():
            if token.family_id == family_id and token.revoked_at is None:
                token.revoked_at = now

    async def revoke_all(self, user_id: uuid.UUID, now: datetime) -> None:
        for token in self._t.refresh_tokens.values():
            if token.user_id == user_id and token.revoked_at is None:
                token.revoked_at = now

    async def live(
        self, user_id: uuid.UUID, now: datetime, *, limit: int | None = None, offset: int = 0
    ) -> list[RefreshToken]:
        found = [
            _copy(t)
            for t in self._t.refresh_tokens.values()
            if t.user_id == user_id and t.is_usable(now)
        ]
        found.sort(key=lambda t: str(t.id))
        found.sort(key=lambda t: t.session_started_at or t.issued_at, reverse=True)
        return found[offset:] if limit is None else found[offset : offset + limit]

    async def count_live(self, user_id: uuid.UUID, now: datetime) -> int:
        return len(await self.live(user_id, now))


class MemoryLoginAttempts:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def get(self, key: bytes) -> LoginAttempts | None:
        found = self._t.login_attempts.get(key)
        return _copy(found) if found is not None else None

    async def get_for_update(self, key: bytes, now: datetime) -> LoginAttempts:
        found = self._t.login_attempts.setdefault(key, LoginAttempts(key, 0, now))
        return _copy(found)

    async def save(self, attempts: LoginAttempts) -> None:
        self._t.login_attempts[attempts.key] = _copy(attempts)

    async def prune(self, before: datetime, limit: int) -> int:
        stale = [
            key
            for key, a in self._t.login_attempts.items()
            if a.window_started_at < before and (a.locked_until is None or a.locked_until < before)
        ][:limit]
        for key in stale:
            del self._t.login_attempts[key]
        return len(stale)

    async def clear(self, key: bytes) -> None:
        self._t.login_attempts.pop(key, None)


class MemoryPackedMetrics:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def _of(self, user_id: uuid.UUID) -> list[PackedWindow]:
        return [w for (uid, _, _), w in self._t.packed.items() if uid == user_id]

    async def windows(
        self, user_id: uuid.UUID, keys: Sequence[tuple[str, int]]
    ) -> list[PackedWindow]:
        found = (self._t.packed.get((user_id, kind, year)) for kind, year in keys)
        return [w for w in found if w is not None]

    async def between(
        self, user_id: uuid.UUID, metric_type: str, first: int | None, last: int | None
    ) -> list[PackedWindow]:
        return sorted(
            (
                w
                for w in self._of(user_id)
                if w.metric_type == metric_type
                and (first is None or w.year >= first)
                and (last is None or w.year <= last)
            ),
            key=lambda w: w.year,
        )

    async def save(self, windows: Sequence[PackedWindow]) -> None:
        for w in windows:
            self._t.packed[(w.user_id, w.metric_type, w.year)] = w

    async def known_upload_keys(self, user_id: uuid.UUID, keys: Sequence[bytes]) -> set[bytes]:
        return {k for k in keys if (user_id, k) in self._t.packed_keys}

    async def add_upload_keys(self, user_id: uuid.UUID, keys: Sequence[bytes]) -> None:
        for key in keys:
            self._t.packed_keys[(user_id, key)] = True

    async def stored_bytes(self, user_id: uuid.UUID) -> int:
        keys = sum(1 for uid, _ in self._t.packed_keys if uid == user_id)
        return sum(window_bytes(w) for w in self._of(user_id)) + keys * PACKED_UPLOAD_KEY_BYTES

    async def all(self, user_id: uuid.UUID) -> list[PackedWindow]:
        return sorted(self._of(user_id), key=lambda w: (w.metric_type, w.year))

    async def page(
        self, user_id: uuid.UUID, after: tuple[str, int] | None, limit: int
    ) -> list[PackedWindow]:
        found = await self.all(user_id)
        return [w for w in found if after is None or (w.metric_type, w.year) > after][:limit]

    async def delete_all(self, user_id: uuid.UUID) -> int:
        windows = [k for k in self._t.packed if k[0] == user_id]
        for key in windows:
            del self._t.packed[key]
        for upload in [k for k in self._t.packed_keys if k[0] == user_id]:
            del self._t.packed_keys[upload]
        return len(windows)
