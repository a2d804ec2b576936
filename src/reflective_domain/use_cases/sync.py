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
    Revision,
    Upload,
    check_device_id,
    decide_upload,
    stored_size,
)
from reflective_domain.errors import (
    EntryConflict,
    NotFound,
    ResyncRequired,
    ValidationFailed,
)
from reflective_domain.ports import Clock, IdGenerator
from reflective_domain.ports.unit_of_work import UnitOfWorkFactory
from reflective_domain.tiers import CloudData
from reflective_domain.use_cases._guards import check_caller, state_permitted
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


def check_offset(offset: int) -> int:
    if offset < 0:
        raise ValidationFailed("offset", "offset must not be negative")
    return offset


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

    async def __call__(
        self, user_id: uuid.UUID, upload: Upload, *, token_issued_at: datetime | None = None
    ) -> Pushed:
        """``token_issued_at``: the access token's issue time, checked on the same read that
        locks the user (see ``_guards``)."""
        version = upload.version
        version.check_limits(self._limits)
        async with self._uow() as uow:
            state = await state_permitted(
                uow, user_id, CloudData.ENTRIES, lock=True, token_issued_at=token_issued_at
            )
            context = await uow.entries.upload_context(
                user_id, upload.entry_id, version.fingerprint, version.device_id
            )
            entry = conflict = None
            if context is not None:
                entry, conflict = context.entry, context.open_conflict
            outcome = decide_upload(
                entry,
                upload,
                delivered_revision=context.delivered_revision if context else None,
                known_revision=context.known_revision if context else None,
                open_conflict=conflict,
            )
            now = self._clock.now()
            if outcome is Outcome.CREATED:
                delta = stored_size(version)
                self._limits.check_quota(state.stored_bytes, delta)
                # The user's row is locked (``state``): the next number is this request's.
                entry = Entry.create(upload.entry_id, user_id, version, state.change_seq + 1, now)
                await uow.entries.create(entry, version.fingerprint, delta)
            elif outcome is Outcome.ACCEPTED:
                assert entry is not None and context is not None
                # The replaced version is kept and retention pruned before the quota check.
                history = self._limits.retention.plan(entry, context.history, now)
                delta = stored_size(version) - stored_size(entry.version) + history.delta
                self._limits.check_quota(state.stored_bytes, delta)
                seq = await uow.users.next_change_seq(user_id, delta)
                entry.write(version, seq, now)
                await uow.entries.save(entry, history)
                await uow.entries.remember_revision(entry, version.fingerprint)
                if conflict is not None and conflict.local.device_id == version.device_id:
                    conflict.close(Resolution.SUPERSEDED, now)
                    await uow.conflicts.save(conflict)
            elif outcome is Outcome.CONFLICT:
                assert entry is not None
                delta = stored_size(version)
                self._limits.check_quota(state.stored_bytes, delta)
                conflict = Conflict(
                    id=self._ids.new_id(),
                    user_id=user_id,
                    entry_id=entry.id,
                    local=version,
                    remote_revision=entry.revision,
                    detected_at=now,
                )
                await uow.conflicts.add(conflict)
                await uow.users.add_stored_bytes(user_id, delta)
            elif outcome is Outcome.CONFLICT_REFRESHED:
                assert entry is not None and conflict is not None
                delta = stored_size(version) - stored_size(conflict.local)
                self._limits.check_quota(state.stored_bytes, delta)
                conflict.refresh(version, now)
                await uow.conflicts.save(conflict)
                await uow.users.add_stored_bytes(user_id, delta)
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
        *,
        token_issued_at: datetime | None = None,
    ) -> ChangePage:
        check_page_size(limit)
        check_device_id(device_id)
        if cursor < 0:
            raise ResyncRequired("Unknown cursor: resync from the beginning")
        async with self._uow() as uow:
            state = await state_permitted(
                uow, user_id, CloudData.ENTRIES, token_issued_at=token_issued_at
            )
            if cursor > state.change_seq:
                raise ResyncRequired("Unknown cursor: resync from the beginning")
            # What is returned counts as sent to the device, recorded by the same read.
            page, has_more = await uow.entries.change_page(
                user_id, cursor, limit, deliver_to=device_id
            )
            await uow.commit()
        next_cursor = page[-1].change_seq if page else cursor
        if not has_more:
            # The sequence can move with no row left to show for it (a bulk delete): the
            # feed's end is then the sequence itself, the cursor its event announced. Safe:
            # every row up to it had committed before the user's state was read.
            next_cursor = max(next_cursor, state.change_seq)
        return ChangePage(page, next_cursor, has_more)


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
        *,
        token_issued_at: datetime | None = None,
    ) -> BackupPage:
        check_page_size(limit)
        check_device_id(device_id)
        check_offset(offset)
        async with self._uow() as uow:
            await state_permitted(uow, user_id, CloudData.ENTRIES, token_issued_at=token_issued_at)
            found, total = await uow.entries.list_live(
                user_id,
                synced_after=since,
                exclude_device=device_id,
                limit=limit,
                offset=offset,
                deliver_to=device_id,  # recorded as sent by the same read
            )
            await uow.commit()
        return BackupPage(found, offset + len(found) < total, total)


class DeleteEntry:
    """Delete one entry, leaving a tombstone so other devices learn of it; its last version
    joins its history (a delete is undone by restoring it)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        metrics: RollupBook | None = None,
        limits: EntryLimits | None = None,
    ) -> None:
        self._uow, self._clock, self._metrics = uow, clock, metrics
        self._limits = limits or EntryLimits()

    async def __call__(
        self,
        user_id: uuid.UUID,
        entry_id: uuid.UUID,
        device_id: str | None = None,
        *,
        token_issued_at: datetime | None = None,
    ) -> Entry:
        check_device_id(device_id)
        async with self._uow() as uow:
            await state_permitted(
                uow, user_id, CloudData.ENTRIES, lock=True, token_issued_at=token_issued_at
            )
            entry = await uow.entries.get(user_id, entry_id)
            if entry is None or entry.deleted:
                raise NotFound("Backup not found")
            now = self._clock.now()
            history = self._limits.retention.plan(
                entry, await uow.entries.history(user_id, entry_id), now
            )
            delta = stored_size(None) - stored_size(entry.version) + history.delta
            seq = await uow.users.next_change_seq(user_id, delta)
            entry.delete(device_id or "unknown", seq, now)
            await uow.entries.save(entry, history)
            if self._metrics is not None:  # the deleted entry's metrics leave every sum
                await self._metrics.retract_entries(uow, user_id, [entry_id])
            await uow.commit()
        return entry


class DeleteAllEntries:
    """Remove every entry, its conflicts, kept versions and delivery marks from the server
    (allowed on any tier, so a client can clean up after a downgrade). The entries stay in
    the user's journal, so their metrics stay in the sums: the web client calls this when it
    moves from full_sync to analytics_sync, keeping its analytics. Only deleting an entry
    retracts its metrics.

    No tombstones are left (the entries stay on the devices), but the change sequence moves
    past the removed rows: its event reaches every stream, and a pull from an older cursor
    answers an empty page ending at that sequence."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(self, user_id: uuid.UUID, *, token_issued_at: datetime | None = None) -> int:
        async with self._uow() as uow:
            await check_caller(uow, user_id, token_issued_at, lock=True)
            conflicts = await uow.conflicts.delete_all(user_id)
            deleted = await uow.entries.delete_all(user_id)
            await uow.deliveries.delete_all(user_id)
            if deleted or conflicts:
                await uow.users.next_change_seq(user_id)  # its trigger notifies the streams
            # Tags are not entries: their bytes stay counted.
            await uow.users.clear_stored_bytes(user_id, await uow.tags.stored_bytes(user_id))
            await uow.commit()
        return deleted


@dataclass(frozen=True, slots=True)
class RevisionPage:
    revisions: list[Revision]
    next_cursor: int | None
    has_more: bool


class ListRevisions:
    """An entry's kept versions, newest first, a page at a time (``before``: the cursor, a
    revision). The entry may be a tombstone: a deleted entry's versions are kept too."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(
        self,
        user_id: uuid.UUID,
        entry_id: uuid.UUID,
        before: int | None = None,
        limit: int = DEFAULT_PAGE,
        *,
        token_issued_at: datetime | None = None,
    ) -> RevisionPage:
        check_page_size(limit)
        if before is not None and before < 1:
            raise ValidationFailed("cursor", "cursor must be a revision of at least 1")
        async with self._uow() as uow:
            await state_permitted(uow, user_id, CloudData.ENTRIES, token_issued_at=token_issued_at)
            if await uow.entries.get(user_id, entry_id) is None:
                raise NotFound("Backup not found")
            found = await uow.entries.revisions(user_id, entry_id, before=before, limit=limit + 1)
        page = found[:limit]
        has_more = len(found) > limit
        return RevisionPage(page, page[-1].revision if has_more else None, has_more)


class DeleteRevisions:
    """Remove an entry's kept versions (the user's choice); the bytes leave the quota in the
    same transaction."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(
        self, user_id: uuid.UUID, entry_id: uuid.UUID, *, token_issued_at: datetime | None = None
    ) -> int:
        async with self._uow() as uow:
            await state_permitted(
                uow, user_id, CloudData.ENTRIES, lock=True, token_issued_at=token_issued_at
            )
            if await uow.entries.get(user_id, entry_id) is None:
                raise NotFound("Backup not found")
            freed = await uow.entries.delete_history(user_id, entry_id)
            if freed:
                await uow.users.add_stored_bytes(user_id, -freed)
            await uow.commit()
        return freed
