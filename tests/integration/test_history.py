"""Revision history on both adapters (real PostgreSQL and the memory one): the same rules,
retention by count and by age with an injected clock, pruning before the quota check, and a
byte counter equal to what is stored after every step."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from dependency_injector import providers

from reflective_app.container import Container
from reflective_domain.entries import (
    ROW_OVERHEAD_BYTES,
    EntryLimits,
    Resolution,
    Retention,
    stored_size,
)
from reflective_domain.errors import EntryConflict, LimitExceeded
from reflective_domain.ports import UnitOfWork
from reflective_domain.tiers import PrivacyTier
from reflective_domain.use_cases.conflicts import MergedVersion
from tests.composition import memory_container, new_user
from tests.entries import upload, version

UowFactory = Callable[[], UnitOfWork]


def container_on(uow_factory: UowFactory, limits: EntryLimits) -> Container:
    """The server's container on ``uow_factory``, its use cases enforcing ``limits``."""
    container = memory_container(uow_factory)
    use_limits(container, limits)
    return container


def use_limits(container: Container, limits: EntryLimits) -> None:
    container.entry_limits.override(providers.Object(limits))


async def check_counter(container: Container, user: uuid.UUID) -> int:
    async with container.uow_factory()() as uow:
        state = await uow.users.state(user)
        entries = await uow.entries.all(user)
        conflicts = await uow.conflicts.all(user)
        history = await uow.entries.revisions_page(user, None, 10_000)
    assert state is not None
    real = sum(stored_size(e.version) for e in entries)
    real += sum(stored_size(c.local) for c in conflicts)
    real += sum(r.size for r in history)
    assert state.stored_bytes == real
    return real


async def revisions(container: Container, user: uuid.UUID, entry_id: uuid.UUID) -> list[int]:
    page = await container.list_revisions()(user, entry_id, limit=500)
    return [r.revision for r in page.revisions]


async def test_retention_by_count_and_by_age(uow_factory: UowFactory) -> None:
    container = container_on(uow_factory, EntryLimits(retention=Retention(3, days=10)))
    user = await new_user(container, tier=PrivacyTier.FULL_SYNC)
    entry = uuid.uuid4()
    for _ in range(6):
        await container.push_entry()(user, upload(entry, version("phone")))
        await check_counter(container, user)
    assert await revisions(container, user, entry) == [5, 4, 3]
    container.clock().advance(days=6)
    await container.push_entry()(user, upload(entry, version("phone")))  # keeps 6, drops 3
    assert await revisions(container, user, entry) == [6, 5, 4]
    container.clock().advance(days=4, seconds=1)  # 4 and 5 are now older than 10 days
    await container.push_entry()(user, upload(entry, version("phone")))
    assert await revisions(container, user, entry) == [7, 6]
    await check_counter(container, user)


async def test_every_kind_of_replacement_keeps_the_replaced_version(
    uow_factory: UowFactory,
) -> None:
    container = container_on(uow_factory, EntryLimits())
    user = await new_user(container, tier=PrivacyTier.FULL_SYNC)
    a, b = uuid.uuid4(), uuid.uuid4()
    first = version("phone")
    await container.push_entry()(user, upload(a, first))
    await container.push_entry()(user, upload(b, version("phone")))
    # A batch edit, then a merged resolution, then a delete.
    await container.push_batch()(user, [upload(a, version("phone")), upload(b, version("phone"))])
    assert await revisions(container, user, a) == [1]
    with pytest.raises(EntryConflict) as err:
        await container.push_entry()(user, upload(a, version("laptop")))
    await container.list_conflicts()(user)
    merged = MergedVersion(b"merged text", b"m" * 12, b"t" * 16)
    await container.resolve_conflict()(user, err.value.conflict_id, Resolution.MERGED, merged)
    await container.delete_entry()(user, a, "tablet")
    page = (await container.list_revisions()(user, a)).revisions
    assert [r.revision for r in page] == [3, 2, 1]
    assert (page[0].content, page[0].iv, page[0].tag) == (b"merged text", b"m" * 12, b"t" * 16)
    assert page[-1].content == first.content and page[-1].device_id == "phone"
    await check_counter(container, user)
    assert await container.delete_revisions()(user, a) > 0
    assert await revisions(container, user, a) == []
    await check_counter(container, user)


async def test_retention_prunes_before_the_quota_check(uow_factory: UowFactory) -> None:
    room = 2 * ROW_OVERHEAD_BYTES + 2 * 60
    container = container_on(uow_factory, EntryLimits(max_user_bytes=room))
    user = await new_user(container, tier=PrivacyTier.FULL_SYNC)
    entry = uuid.uuid4()
    await container.push_entry()(user, upload(entry, version("phone", content=b"a" * 60)))
    await container.push_entry()(user, upload(entry, version("phone", content=b"b" * 60)))
    with pytest.raises(LimitExceeded):  # a third version would not fit beside two
        await container.push_entry()(user, upload(entry, version("phone", content=b"c" * 60)))
    assert await check_counter(container, user) == room
    # With one kept version per entry the same write fits: the older one is pruned first.
    use_limits(container, EntryLimits(max_user_bytes=room, retention=Retention(1)))
    await container.push_entry()(user, upload(entry, version("phone", content=b"c" * 60)))
    assert await revisions(container, user, entry) == [2]
    assert await check_counter(container, user) == room
