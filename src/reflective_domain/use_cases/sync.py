"""Entry sync: push a version, pull by cursor or by time, delete."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from reflective_domain.entries import (
    Conflict,
    Entry,
    EntryLimits,
    Outcome,
    Resolution,
    Upload,
    decide_upload,
)
from reflective_domain.errors import (
    EntryConflict,
    NotFound,
    ResyncRequired,
    ValidationFailed,
)
from reflective_domain.ports import Clock, IdGenerator, UnitOfWork
from reflective_domain.ports.unit_of_work import UnitOfWorkFactory
from reflective_domain.tiers import CloudData
from reflective_domain.use_cases._guards import user_permitted
from reflective_domain.use_cases.metrics import RollupBook

MAX_PAGE = 500
DEFAULT_PAGE = 100
CONFLICT_MESSAGE = "Conflict detected: this device has not seen the latest version"
BLOCKED_MESSAGE = (
    "This entry has an unresolved conflict from another device; resolve it before uploading"
)


def check_page_size(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed("limit", f"limit must be between 1 and {MAX_PAGE}")
    return limit


@dataclass(frozen=True, slots=True)
class Pushed:
    entry: Entry
    outcome: Outcome


class PushEntry:
    """Apply the conflict rules to one upload, serialized with the user's other writes."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        limits: EntryLimits | None = None,
    ) -> None:
        self._uow, self._clock, self._ids = uow, clock, ids
        self._limits = limits or EntryLimits()

    async def __call__(self, user_id: uuid.UUID, upload: Upload) -> Pushed:
        upload.version.check_limits(self._limits)
        async with self._uow() as uow:
            await user_permitted(uow, user_id, CloudData.ENTRIES, lock=True)
            entry = await uow.entries.get(user_id, upload.entry_id)
            known = conflict = delivered = None
            if entry is not None:
                known = await uow.entries.revision_with(
                    user_id, entry.id, upload.version.fingerprint
                )
                conflict = await uow.conflicts.open_for_entry(user_id, entry.id)
                delivered = await uow.deliveries.delivered_revision(
                    user_id, upload.version.device_id, entry.id
                )
            outcome = decide_upload(
                entry,
                upload,
                delivered_revision=delivered,
                known_revision=known,
                open_conflict=conflict,
            )
            now = self._clock.now()
            if outcome in (Outcome.CREATED, Outcome.ACCEPTED):
                replaced = entry.version.size if entry is not None and entry.version else 0
                stored = await uow.entries.stored_bytes(user_id)
                self._limits.check_quota(stored, replaced, upload.version.size)
            if outcome is Outcome.CREATED:
                seq = await uow.users.next_change_seq(user_id)
                entry = Entry.create(upload.entry_id, user_id, upload.version, seq, now)
                await uow.entries.add(entry)
                await uow.entries.remember_revision(entry, upload.version.fingerprint)
            elif outcome is Outcome.ACCEPTED:
                assert entry is not None
                seq = await uow.users.next_change_seq(user_id)
                entry.write(upload.version, seq, now)
                await uow.entries.save(entry)
                await uow.entries.remember_revision(entry, upload.version.fingerprint)
                if conflict is not None and conflict.local.device_id == upload.version.device_id:
                    conflict.close(Resolution.SUPERSEDED, now)
                    await uow.conflicts.save(conflict)
            elif outcome is Outcome.CONFLICT:
                assert entry is not None
                conflict = Conflict(
                    id=self._ids.new_id(),
                    user_id=user_id,
                    entry_id=entry.id,
                    local=upload.version,
                    remote_revision=entry.revision,
                    detected_at=now,
                )
                await uow.conflicts.add(conflict)
            elif outcome is Outcome.CONFLICT_REFRESHED:
                assert entry is not None and conflict is not None
                conflict.refresh(upload.version, now)
                await uow.conflicts.save(conflict)
            await uow.commit()
        assert entry is not None
        if outcome in _CONFLICTED:
            assert conflict is not None
            message = (
                BLOCKED_MESSAGE if outcome is Outcome.BLOCKED_BY_CONFLICT else CONFLICT_MESSAGE
            )
            raise EntryConflict(message, conflict.id, entry.id)
        return Pushed(entry, outcome)


_CONFLICTED = frozenset(
    {
        Outcome.CONFLICT,
        Outcome.CONFLICT_REFRESHED,
        Outcome.CONFLICT_REPEATED,
        Outcome.BLOCKED_BY_CONFLICT,
    }
)


async def _remember_delivery(
    uow: UnitOfWork, user_id: uuid.UUID, device_id: str | None, entries: list[Entry]
) -> None:
    if device_id and entries:
        await uow.deliveries.record(user_id, device_id, [(e.id, e.revision) for e in entries])


@dataclass(frozen=True, slots=True)
class ChangePage:
    changes: list[Entry]
    next_cursor: int
    has_more: bool


class PullChanges:
    """The change feed: every entry whose latest change is after the cursor, tombstones
    included, in the order the server committed them."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(
        self,
        user_id: uuid.UUID,
        cursor: int = 0,
        limit: int = DEFAULT_PAGE,
        device_id: str | None = None,
    ) -> ChangePage:
        check_page_size(limit)
        if cursor < 0:
            raise ResyncRequired("Unknown cursor: resync from the beginning")
        async with self._uow() as uow:
            await user_permitted(uow, user_id, CloudData.ENTRIES)
            if cursor > await uow.users.current_change_seq(user_id):
                raise ResyncRequired("Unknown cursor: resync from the beginning")
            found = await uow.entries.changes_after(user_id, cursor, limit + 1)
            page = found[:limit]
            await _remember_delivery(uow, user_id, device_id, page)
            await uow.commit()
        next_cursor = page[-1].change_seq if page else cursor
        return ChangePage(page, next_cursor, len(found) > limit)


@dataclass(frozen=True, slots=True)
class BackupPage:
    backups: list[Entry]
    has_more: bool
    total_count: int


class ListBackups:
    """Live entries accepted after ``since`` (server time), leaving out the asking device's own
    writes; what is returned counts as sent to that device."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(
        self,
        user_id: uuid.UUID,
        since: datetime | None = None,
        device_id: str | None = None,
        limit: int = DEFAULT_PAGE,
        offset: int = 0,
    ) -> BackupPage:
        check_page_size(limit)
        if offset < 0:
            raise ValidationFailed("offset", "offset must not be negative")
        async with self._uow() as uow:
            await user_permitted(uow, user_id, CloudData.ENTRIES)
            found, total = await uow.entries.list_live(
                user_id, synced_after=since, exclude_device=device_id, limit=limit, offset=offset
            )
            await _remember_delivery(uow, user_id, device_id, found)
            await uow.commit()
        return BackupPage(found, offset + len(found) < total, total)


class DeleteEntry:
    """Delete one entry, leaving a tombstone so other devices learn of it."""

    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, metrics: RollupBook | None = None
    ) -> None:
        self._uow, self._clock, self._metrics = uow, clock, metrics

    async def __call__(
        self, user_id: uuid.UUID, entry_id: uuid.UUID, device_id: str | None = None
    ) -> Entry:
        async with self._uow() as uow:
            user = await user_permitted(uow, user_id, CloudData.ENTRIES, lock=True)
            entry = await uow.entries.get(user_id, entry_id)
            if entry is None or entry.deleted:
                raise NotFound("Backup not found")
            seq = await uow.users.next_change_seq(user_id)
            entry.delete(device_id or "unknown", seq, self._clock.now())
            await uow.entries.save(entry)
            if self._metrics is not None:  # the deleted entry's metrics leave every sum
                await self._metrics.retract_entries(uow, user, [entry_id])
            await uow.commit()
        return entry


class DeleteAllEntries:
    """Remove every entry, its conflicts and delivery marks (allowed on any tier, so a client
    can clean up after a downgrade)."""

    def __init__(self, uow: UnitOfWorkFactory, metrics: RollupBook | None = None) -> None:
        self._uow, self._metrics = uow, metrics

    async def __call__(self, user_id: uuid.UUID) -> int:
        async with self._uow() as uow:
            await uow.users.lock(user_id)
            if self._metrics is not None:  # the deleted entries' metrics leave every sum
                user = await uow.users.get(user_id)
                if user is not None:
                    await self._metrics.retract_entries(uow, user, None)
            await uow.conflicts.delete_all(user_id)
            deleted = await uow.entries.delete_all(user_id)
            await uow.deliveries.delete_all(user_id)
            await uow.commit()
        return deleted
