"""List open conflicts and resolve them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from reflective_domain.entries import (
    Conflict,
    Entry,
    EntryLimits,
    EntryVersion,
    Resolution,
    stored_size,
)
from reflective_domain.errors import NotFound, StaleResolution, ValidationFailed
from reflective_domain.ports import Clock
from reflective_domain.ports.unit_of_work import UnitOfWorkFactory
from reflective_domain.tiers import CloudData
from reflective_domain.use_cases._guards import state_permitted
from reflective_domain.use_cases.sync import DEFAULT_PAGE, check_page_size


@dataclass(frozen=True, slots=True)
class ConflictView:
    """An open conflict with the entry's current state as its remote side."""

    conflict: Conflict
    remote: Entry


@dataclass(frozen=True, slots=True)
class ConflictPage:
    conflicts: list[ConflictView]
    has_more: bool
    total_count: int


class ListConflicts:
    """Open conflicts, oldest first, a page at a time, each with its entry's current state.

    Listing is showing: every listed conflict is confirmed against both sides as listed
    (one write for the page), so a resolution that follows without naming the revisions it
    was shown (the web client) applies to exactly what was listed. The user row is locked
    like a writer's, so nothing changes between what is read and what is confirmed.
    """

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(
        self,
        user_id: uuid.UUID,
        limit: int = DEFAULT_PAGE,
        offset: int = 0,
        *,
        token_issued_at: datetime | None = None,
    ) -> ConflictPage:
        check_page_size(limit)
        if offset < 0:
            raise ValidationFailed("offset", "offset must not be negative")
        async with self._uow() as uow:
            await state_permitted(
                uow, user_id, CloudData.CONFLICTS, lock=True, token_issued_at=token_issued_at
            )
            found, total = await uow.conflicts.list_open(user_id, limit=limit, offset=offset)
            remotes: dict[uuid.UUID, Entry] = {}
            if found:
                shown = await uow.conflicts.confirm_listed(user_id, [c.id for c in found])
                remotes = {e.id: e for e in shown}
                await uow.commit()
        views = []
        for conflict in found:
            remote = remotes.get(conflict.entry_id)
            if remote is not None:
                conflict.confirm(remote.revision)
                views.append(ConflictView(conflict, remote))
        return ConflictPage(views, offset + len(found) < total, total)


class GetConflict:
    """One open conflict with its entry's current state; fetched alone is shown too, so it
    is confirmed against both sides as returned (as a listing confirms its page)."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(
        self, user_id: uuid.UUID, conflict_id: uuid.UUID, *, token_issued_at: datetime | None = None
    ) -> ConflictView:
        async with self._uow() as uow:
            await state_permitted(
                uow, user_id, CloudData.CONFLICTS, lock=True, token_issued_at=token_issued_at
            )
            conflict = await uow.conflicts.get(user_id, conflict_id)
            if conflict is None or not conflict.is_open:
                raise NotFound("Conflict not found")
            shown = await uow.conflicts.confirm_listed(user_id, [conflict.id])
            if not shown:
                raise NotFound("Conflict not found")
            await uow.commit()
        conflict.confirm(shown[0].revision)
        return ConflictView(conflict, shown[0])


@dataclass(frozen=True, slots=True)
class MergedVersion:
    content: bytes
    iv: bytes
    tag: bytes | None = None
    embedding: bytes | None = None
    embedding_iv: bytes | None = None

    def __repr__(self) -> str:
        return f"MergedVersion(<{len(self.content)} bytes>)"


STALE_MESSAGE = (
    "This conflict changed since it was last listed (a newer version arrived on one side); "
    "list conflicts again and resolve against what they show now"
)


class ResolveConflict:
    """local: the conflicting upload becomes the next revision; remote: the current version
    stays; merged: the client's merge becomes the next revision.

    local and merged replace the current version, so they must be chosen against both sides
    as they are: the client may say which remote revision and which conflict generation it was
    shown; what it does not say is checked against the last listing (which confirmed the
    conflict). If either side changed since, nothing is written and the refusal
    (``StaleResolution``) changes nothing either: only a new listing shows the new sides.
    """

    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, limits: EntryLimits | None = None
    ) -> None:
        self._uow, self._clock = uow, clock
        self._limits = limits or EntryLimits()

    async def __call__(
        self,
        user_id: uuid.UUID,
        conflict_id: uuid.UUID,
        choice: Resolution,
        merged: MergedVersion | None = None,
        device_id: str | None = None,
        remote_revision: int | None = None,
        generation: int | None = None,
        *,
        token_issued_at: datetime | None = None,
    ) -> Entry:
        if choice is Resolution.SUPERSEDED:
            raise ValidationFailed(
                "chosen_version", "chosen_version must be local, remote or merged"
            )
        if choice is Resolution.MERGED and merged is None:
            raise ValidationFailed(
                "final_encrypted_content",
                "merged needs final_encrypted_content and final_iv",
            )
        async with self._uow() as uow:
            state = await state_permitted(
                uow, user_id, CloudData.CONFLICTS, lock=True, token_issued_at=token_issued_at
            )
            conflict = await uow.conflicts.get(user_id, conflict_id)
            if conflict is None or not conflict.is_open:
                raise NotFound("Conflict not found")
            entry = await uow.entries.get(user_id, conflict.entry_id)
            if entry is None:
                raise NotFound("Conflict not found")
            now = self._clock.now()
            if conflict.is_stale(choice, entry.revision, remote_revision, generation):
                raise StaleResolution(STALE_MESSAGE, conflict.id, entry.id)
            version = self._chosen(conflict, entry, choice, merged, device_id, now)
            if version is not None:
                version.check_limits(self._limits)
                # The conflict row keeps its local version; the entry changes size and the
                # version it replaces joins its history.
                history = self._limits.retention.plan(
                    entry, await uow.entries.history(user_id, entry.id), now
                )
                delta = stored_size(version) - stored_size(entry.version) + history.delta
                self._limits.check_quota(state.stored_bytes, delta)
                seq = await uow.users.next_change_seq(user_id, delta)
                entry.write(version, seq, now)
                await uow.entries.save(entry, history)
                await uow.entries.remember_revision(entry, version.fingerprint)
            conflict.close(choice, now)
            await uow.conflicts.save(conflict)
            await uow.commit()
        return entry

    @staticmethod
    def _chosen(
        conflict: Conflict,
        entry: Entry,
        choice: Resolution,
        merged: MergedVersion | None,
        device_id: str | None,
        now: datetime,
    ) -> EntryVersion | None:
        local = conflict.local
        if choice is Resolution.REMOTE:
            return None
        device = device_id or local.device_id
        if choice is Resolution.LOCAL:
            return EntryVersion(
                content=local.content,
                iv=local.iv,
                tag=local.tag,
                created_at=local.created_at,
                updated_at=local.updated_at,
                device_id=device,
                embedding=local.embedding,
                embedding_iv=local.embedding_iv,
            )
        assert merged is not None
        created = entry.version.created_at if entry.version is not None else local.created_at
        return EntryVersion(
            content=merged.content,
            iv=merged.iv,
            tag=merged.tag,
            created_at=min(created, local.created_at),
            updated_at=now,
            device_id=device,
            embedding=merged.embedding,
            embedding_iv=merged.embedding_iv,
        )
