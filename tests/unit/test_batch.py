"""PushBatch over the memory adapters: the single-push rules per item, the quota on the
whole batch, and the batch's own input rules."""

from __future__ import annotations

import uuid

import pytest

from reflective_domain.entries import ROW_OVERHEAD_BYTES, EntryLimits, Outcome, stored_size
from reflective_domain.errors import BatchConflict, EntryConflict, LimitExceeded, ValidationFailed
from reflective_domain.tiers import PrivacyTier
from reflective_domain.use_cases.batch import MAX_BATCH, PushBatch
from tests.services import upload, version


@pytest.fixture
async def user(services):
    return await services.new_user(tier=PrivacyTier.FULL_SYNC)


def batch(services, limits: EntryLimits | None = None) -> PushBatch:
    return PushBatch(services.uow, services.clock, services.ids, limits)


async def stored_bytes(services, user) -> tuple[int, int]:
    """The O(1) counter and the real sum of what is stored (kept versions included)."""
    async with services.uow() as uow:
        state = await uow.users.state(user)
        entries = await uow.entries.all(user)
        conflicts = await uow.conflicts.all(user)
        kept = await uow.entries.revisions_page(user, None, 10_000)
    real = sum(stored_size(e.version) for e in entries)
    real += sum(stored_size(c.local) for c in conflicts if c.is_open)
    real += sum(r.size for r in kept)
    return state.stored_bytes, real


async def test_each_item_is_decided_as_a_single_push_would(services, user):
    a, b, c = (uuid.UUID(int=n) for n in (1, 2, 3))
    await services.push(user, upload(a, version("laptop")))
    await services.push(user, upload(b, version("tablet")))
    kept = version("laptop")
    await services.push(user, upload(c, kept))
    results = await batch(services)(
        user,
        [
            upload(uuid.UUID(int=4), version("laptop")),
            upload(a, version("laptop"), base=1),
            upload(b, version("laptop")),
            upload(c, kept),
        ],
    )
    assert [r.outcome for r in results] == [
        Outcome.CREATED,
        Outcome.ACCEPTED,
        Outcome.CONFLICT,
        Outcome.UNCHANGED,
    ]
    assert [r.revision for r in results] == [1, 2, None, 1]
    assert results[2].conflict_id is not None
    # The writes took consecutive change sequences in request order.
    changes = (await services.pull(user, 3)).changes
    assert [(e.id, e.change_seq) for e in changes] == [(uuid.UUID(int=4), 4), (a, 5)]
    counter, real = await stored_bytes(services, user)
    assert counter == real


async def test_atomic_stores_nothing_on_a_conflict(services, user):
    theirs = uuid.UUID(int=1)
    await services.push(user, upload(theirs, version("tablet")))
    before = await stored_bytes(services, user)
    with pytest.raises(BatchConflict) as err:
        await batch(services)(
            user,
            [upload(uuid.UUID(int=2), version("laptop")), upload(theirs, version("laptop"))],
            atomic=True,
        )
    assert err.value.entry_ids == [theirs]
    assert await stored_bytes(services, user) == before
    assert [e.id for e in (await services.pull(user)).changes] == [theirs]
    with pytest.raises(EntryConflict):  # and no conflict was kept: the single push makes one
        await services.push(user, upload(theirs, version("laptop")))


async def test_the_quota_is_checked_on_the_whole_batch(services, user):
    limits = EntryLimits(max_user_bytes=2 * (ROW_OVERHEAD_BYTES + 10))
    items = [upload(uuid.UUID(int=n), version(content=b"x" * 10)) for n in range(1, 4)]
    with pytest.raises(LimitExceeded, match="quota"):
        await batch(services, limits)(user, items)
    assert (await services.pull(user)).changes == []
    assert len(await batch(services, limits)(user, items[:2])) == 2


async def test_the_batch_input_rules(services, user):
    push = batch(services)
    with pytest.raises(LimitExceeded, match=str(MAX_BATCH)):
        await push(user, [upload(uuid.uuid4(), version()) for _ in range(MAX_BATCH + 1)])
    same = uuid.UUID(int=7)
    with pytest.raises(ValidationFailed) as err:
        await push(
            user,
            [upload(same, version()), upload(uuid.uuid4(), version()), upload(same, version())],
        )
    assert err.value.field == "entries.2.id"
    await services.push(user, upload(same, version()))
    with pytest.raises(ValidationFailed) as ahead:
        await push(user, [upload(uuid.uuid4(), version()), upload(same, version(), base=5)])
    assert ahead.value.field == "entries.1.base_revision"
    with pytest.raises(LimitExceeded, match=r"entries\[1\]"):
        await push(
            user,
            [
                upload(uuid.uuid4(), version()),
                upload(uuid.uuid4(), version(content=b"x" * (1024 * 1024 + 1))),
            ],
        )
    assert [e.id for e in (await services.pull(user)).changes] == [same]
