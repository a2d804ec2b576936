"""Tag operations."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from reflective_domain.entries import EntryLimits
from reflective_domain.errors import LimitExceeded, NotFound
from reflective_domain.ports import Clock, IdGenerator
from reflective_domain.ports.unit_of_work import UnitOfWorkFactory
from reflective_domain.tags import (
    MAX_TAG_PAGE,
    MAX_TAGS_PER_USER,
    Tag,
    check_cleanup_days,
    check_tag_page,
)
from reflective_domain.use_cases._guards import account_state, check_caller


class CreateTag:
    """Create a tag, or return the user's existing tag of the same normalised name. A user
    holds at most ``max_tags`` tags, and a new tag's bytes count against the storage quota
    (413 beyond either)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        max_tags: int = MAX_TAGS_PER_USER,
        limits: EntryLimits | None = None,
    ) -> None:
        self._uow, self._clock, self._ids, self._max = uow, clock, ids, max_tags
        self._limits = limits or EntryLimits()

    async def __call__(
        self,
        user_id: uuid.UUID,
        name: str,
        color: str | None = None,
        *,
        token_issued_at: datetime | None = None,
    ) -> tuple[Tag, bool]:
        tag = Tag.new(self._ids.new_id(), user_id, name, color, self._clock.now())
        async with self._uow() as uow:
            # Creations of one user count in turn; the same read checks the token.
            state = await account_state(uow, user_id, lock=True, token_issued_at=token_issued_at)
            held = await uow.tags.count(user_id)
            stored, created = await uow.tags.add_or_get(tag)
            if created:
                # Not committed: a new tag beyond either limit is not kept.
                if held >= self._max:
                    raise LimitExceeded(f"A user can have at most {self._max} tags")
                self._limits.check_quota(state.stored_bytes, stored.size)
            await uow.commit()
        return stored, created


class ListTags:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(
        self,
        user_id: uuid.UUID,
        limit: int = MAX_TAG_PAGE,
        offset: int = 0,
        *,
        token_issued_at: datetime | None = None,
    ) -> list[Tag]:
        check_tag_page(limit, offset)
        async with self._uow() as uow:
            if token_issued_at is not None:
                await account_state(uow, user_id, token_issued_at=token_issued_at)
            return await uow.tags.list(user_id, limit, offset)


class UpdateTag:
    """Rename, recolour or mark a tag used; a rename that makes it larger needs room in the
    storage quota."""

    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, limits: EntryLimits | None = None
    ) -> None:
        self._uow, self._clock = uow, clock
        self._limits = limits or EntryLimits()

    async def __call__(
        self,
        user_id: uuid.UUID,
        tag_id: uuid.UUID,
        name: str | None = None,
        color: str | None = None,
        used: bool = False,
        *,
        token_issued_at: datetime | None = None,
    ) -> Tag:
        async with self._uow() as uow:
            # Locked: the size read here is still the tag's when the change is counted.
            state = await account_state(uow, user_id, lock=True, token_issued_at=token_issued_at)
            tag = await uow.tags.get(user_id, tag_id)
            if tag is None:
                raise NotFound("Tag not found")
            before = tag.size
            if name is not None:
                tag.rename(name)
            if color is not None:
                tag.recolour(color)
            if used:
                tag.mark_used(self._clock.now())
            delta = tag.size - before
            self._limits.check_quota(state.stored_bytes, delta)
            await uow.tags.save(tag, delta)
            await uow.commit()
        return tag


class DeleteTag:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(
        self, user_id: uuid.UUID, tag_id: uuid.UUID, *, token_issued_at: datetime | None = None
    ) -> None:
        async with self._uow() as uow:
            # Locked, as every tag write: the counter moves in the user's order of writes.
            await check_caller(uow, user_id, token_issued_at, lock=True)
            if not await uow.tags.delete(user_id, tag_id):
                raise NotFound("Tag not found")
            await uow.commit()


class CleanupTags:
    """Delete tags unused for ``days`` days."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow, self._clock = uow, clock

    async def __call__(
        self, user_id: uuid.UUID, days: int = 30, *, token_issued_at: datetime | None = None
    ) -> int:
        cutoff = self._clock.now() - timedelta(days=check_cleanup_days(days))
        async with self._uow() as uow:
            await check_caller(uow, user_id, token_issued_at, lock=True)
            deleted = await uow.tags.delete_unused_since(user_id, cutoff)
            await uow.commit()
        return deleted
