"""Push many entry versions in one request (peer servers' ``item/batch`` and
``item/transaction``): the same conflict rules as a single push, per item, in one transaction,
one lock of the user and one allocation of a range of change sequences."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from reflective_domain.entries import (
    Conflict,
    Entry,
    EntryLimits,
    HistoryChange,
    Outcome,
    Resolution,
    Upload,
    UploadContext,
    decide_upload,
    stored_size,
)
from reflective_domain.errors import BatchConflict, LimitExceeded, ValidationFailed
from reflective_domain.ports import Clock, IdGenerator
from reflective_domain.ports.unit_of_work import UnitOfWorkFactory
from reflective_domain.tiers import CloudData
from reflective_domain.use_cases._guards import state_permitted

MAX_BATCH = 500

_CONFLICTED = frozenset(
    {
        Outcome.CONFLICT,
        Outcome.CONFLICT_REFRESHED,
        Outcome.CONFLICT_REPEATED,
        Outcome.BLOCKED_BY_CONFLICT,
    }
)


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What happened to one item: ``revision`` for a stored (or already stored) version,
    ``conflict_id`` for a conflict (the open conflict that holds or blocks it)."""

    entry_id: uuid.UUID
    outcome: Outcome
    revision: int | None = None
    conflict_id: uuid.UUID | None = None

    @property
    def conflicted(self) -> bool:
        return self.outcome in _CONFLICTED


def check_batch(uploads: Sequence[Upload], limits: EntryLimits) -> None:
    """The whole batch's shape, before anything is read: its size, each item's limits, and
    no entry twice (each item is decided against the entry as the batch found it)."""
    if len(uploads) > MAX_BATCH:
        raise LimitExceeded(f"a batch holds at most {MAX_BATCH} entries, not {len(uploads)}")
    first: dict[uuid.UUID, int] = {}
    for index, upload in enumerate(uploads):
        try:
            upload.version.check_limits(limits)
        except LimitExceeded as exc:
            raise LimitExceeded(f"entries[{index}]: {exc.message}") from None
        if (earlier := first.setdefault(upload.entry_id, index)) != index:
            raise ValidationFailed(
                f"entries.{index}.id", f"entries[{index}] repeats the id of entries[{earlier}]"
            )


class PushBatch:
    """Apply the conflict rules to each upload of a batch, in request order.

    Not atomic: every item gets its outcome (created, accepted, unchanged or conflict) and
    what can be stored is. Atomic: any conflict and nothing is stored (``BatchConflict``).
    Bad input or a quota overrun in any item: nothing is stored either.
    """

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
        self,
        user_id: uuid.UUID,
        uploads: Sequence[Upload],
        *,
        atomic: bool = False,
        token_issued_at: datetime | None = None,
    ) -> list[ItemResult]:
        check_batch(uploads, self._limits)
        async with self._uow() as uow:
            state = await state_permitted(
                uow, user_id, CloudData.ENTRIES, lock=True, token_issued_at=token_issued_at
            )
            if not uploads:
                return []
            contexts = await uow.entries.upload_contexts(
                user_id,
                [(u.entry_id, u.version.fingerprint, u.version.device_id) for u in uploads],
            )
            outcomes = [
                _decide(index, upload, contexts.get(upload.entry_id))
                for index, upload in enumerate(uploads)
            ]
            if atomic:
                conflicting = [
                    u.entry_id for u, o in zip(uploads, outcomes, strict=True) if o in _CONFLICTED
                ]
                if conflicting:
                    raise BatchConflict(conflicting)
            now = self._clock.now()
            # Sizes first: the quota is checked once, on what the whole batch adds.
            writes = 0
            delta = 0
            history: list[HistoryChange] = []
            for upload, outcome in zip(uploads, outcomes, strict=True):
                context = contexts.get(upload.entry_id)
                if outcome is Outcome.CREATED:
                    writes += 1
                    delta += stored_size(upload.version)
                elif outcome is Outcome.ACCEPTED:
                    assert context is not None
                    writes += 1
                    delta += stored_size(upload.version) - stored_size(context.entry.version)
                    # The replaced version is kept, retention pruned, before the quota check.
                    change = self._limits.retention.plan(context.entry, context.history, now)
                    history.append(change)
                    delta += change.delta
                elif outcome is Outcome.CONFLICT:
                    delta += stored_size(upload.version)
                elif outcome is Outcome.CONFLICT_REFRESHED:
                    assert context is not None and context.open_conflict is not None
                    delta += stored_size(upload.version) - stored_size(context.open_conflict.local)
            self._limits.check_quota(state.stored_bytes, delta)
            seq = 0
            if writes:
                last = await uow.users.next_change_seq(user_id, delta, count=writes)
                seq = last - writes
            elif delta:
                await uow.users.add_stored_bytes(user_id, delta)
            results: list[ItemResult] = []
            written: list[tuple[Entry, bytes]] = []
            for upload, outcome in zip(uploads, outcomes, strict=True):
                context = contexts.get(upload.entry_id)
                version = upload.version
                if outcome is Outcome.CREATED:
                    seq += 1
                    entry = Entry.create(upload.entry_id, user_id, version, seq, now)
                    written.append((entry, version.fingerprint))
                    results.append(ItemResult(entry.id, outcome, entry.revision))
                    continue
                assert context is not None
                entry, conflict = context.entry, context.open_conflict
                if outcome is Outcome.ACCEPTED:
                    seq += 1
                    entry.write(version, seq, now)
                    written.append((entry, version.fingerprint))
                    if conflict is not None and conflict.local.device_id == version.device_id:
                        conflict.close(Resolution.SUPERSEDED, now)
                        await uow.conflicts.save(conflict)
                    results.append(ItemResult(entry.id, outcome, entry.revision))
                elif outcome is Outcome.UNCHANGED:
                    results.append(ItemResult(entry.id, outcome, entry.revision))
                elif outcome is Outcome.CONFLICT:
                    conflict = Conflict(
                        id=self._ids.new_id(),
                        user_id=user_id,
                        entry_id=entry.id,
                        local=version,
                        remote_revision=entry.revision,
                        detected_at=now,
                    )
                    await uow.conflicts.add(conflict)
                    results.append(ItemResult(entry.id, outcome, conflict_id=conflict.id))
                else:
                    assert conflict is not None
                    if outcome is Outcome.CONFLICT_REFRESHED:
                        conflict.refresh(version, now)
                        await uow.conflicts.save(conflict)
                    results.append(ItemResult(entry.id, Outcome.CONFLICT, conflict_id=conflict.id))
            await uow.entries.save_many([entry for entry, _ in written], history)
            await uow.entries.remember_revisions(written)
            await uow.commit()
        return results


def _decide(index: int, upload: Upload, context: UploadContext | None) -> Outcome:
    try:
        return decide_upload(
            context.entry if context else None,
            upload,
            delivered_revision=context.delivered_revision if context else None,
            known_revision=context.known_revision if context else None,
            open_conflict=context.open_conflict if context else None,
        )
    except ValidationFailed as exc:
        raise ValidationFailed(f"entries.{index}.{exc.field}", exc.message) from None
