"""Revision history on both adapters (real PostgreSQL and the memory one): the same rules,
retention by count and by age with an injected clock, pruning before the quota check, and a
byte counter equal to what is stored after every step."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

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
from tests.fakes import FakeClock, FakePasswordHasher, FakeTokenService, PlaintextHe, SequentialIds
from tests.services import Services, upload, version

UowFactory = Callable[[], UnitOfWork]


def services_on(uow_factory: UowFactory, limits: EntryLimits) -> Services:
    clock = FakeClock()
    return Services(
        uow=uow_factory,
        clock=clock,
        ids=SequentialIds(),
        hasher=FakePasswordHasher(),
        tokens=FakeTokenService(clock),
        he=PlaintextHe(),
        limits=limits,
    )


async def check_counter(services: Services, user: uuid.UUID) -> int:
    async with services.uow() as uow:
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


async def revisions(services: Services, user: uuid.UUID, entry_id: uuid.UUID) -> list[int]:
    return [r.revision for r in (await services.revisions(user, entry_id, limit=500)).revisions]


async def test_retention_by_count_and_by_age(uow_factory: UowFactory) -> None:
    services = services_on(uow_factory, EntryLimits(retention=Retention(3, days=10)))
    user = await services.new_user(tier=PrivacyTier.FULL_SYNC)
    entry = uuid.uuid4()
    for _ in range(6):
        await services.push(user, upload(entry, version("phone")))
        await check_counter(services, user)
    assert await revisions(services, user, entry) == [5, 4, 3]
    services.clock.advance(days=6)
    await services.push(user, upload(entry, version("phone")))  # keeps 6, drops 3
    assert await revisions(services, user, entry) == [6, 5, 4]
    services.clock.advance(days=4, seconds=1)  # 4 and 5 are now older than 10 days
    await services.push(user, upload(entry, version("phone")))
    assert await revisions(services, user, entry) == [7, 6]
    await check_counter(services, user)


async def test_every_kind_of_replacement_keeps_the_replaced_version(
    uow_factory: UowFactory,
) -> None:
    services = services_on(uow_factory, EntryLimits())
    user = await services.new_user(tier=PrivacyTier.FULL_SYNC)
    a, b = uuid.uuid4(), uuid.uuid4()
    first = version("phone")
    await services.push(user, upload(a, first))
    await services.push(user, upload(b, version("phone")))
    # A batch edit, then a merged resolution, then a delete.
    await services.batch(user, [upload(a, version("phone")), upload(b, version("phone"))])
    assert await revisions(services, user, a) == [1]
    with pytest.raises(EntryConflict) as err:
        await services.push(user, upload(a, version("laptop")))
    await services.conflicts(user)
    merged = MergedVersion(b"merged text", b"m" * 12, b"t" * 16)
    await services.resolve(user, err.value.conflict_id, Resolution.MERGED, merged)
    await services.delete_entry(user, a, "tablet")
    page = (await services.revisions(user, a)).revisions
    assert [r.revision for r in page] == [3, 2, 1]
    assert (page[0].content, page[0].iv, page[0].tag) == (b"merged text", b"m" * 12, b"t" * 16)
    assert page[-1].content == first.content and page[-1].device_id == "phone"
    await check_counter(services, user)
    assert await services.delete_revisions(user, a) > 0
    assert await revisions(services, user, a) == []
    await check_counter(services, user)


async def test_retention_prunes_before_the_quota_check(uow_factory: UowFactory) -> None:
    room = 2 * ROW_OVERHEAD_BYTES + 2 * 60
    services = services_on(uow_factory, EntryLimits(max_user_bytes=room))
    user = await services.new_user(tier=PrivacyTier.FULL_SYNC)
    entry = uuid.uuid4()
    await services.push(user, upload(entry, version("phone", content=b"a" * 60)))
    await services.push(user, upload(entry, version("phone", content=b"b" * 60)))
    with pytest.raises(LimitExceeded):  # a third version would not fit beside two
        await services.push(user, upload(entry, version("phone", content=b"c" * 60)))
    assert await check_counter(services, user) == room
    # With one kept version per entry the same write fits: the older one is pruned first.
    services.limits = EntryLimits(max_user_bytes=room, retention=Retention(1))
    await services.push(user, upload(entry, version("phone", content=b"c" * 60)))
    assert await revisions(services, user, entry) == [2]
    assert await check_counter(services, user) == room
