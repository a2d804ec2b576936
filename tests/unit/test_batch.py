"""PushBatch over the memory adapters: the single-push rules per item, the quota on the
whole batch, and the batch's own input rules."""

from __future__ import annotations

import uuid

import pytest

from reflective_domain.entries import ROW_OVERHEAD_BYTES, EntryLimits, Outcome, stored_size
from reflective_domain.errors import BatchConflict, EntryConflict, LimitExceeded, ValidationFailed
from reflective_domain.tiers import PrivacyTier
from reflective_domain.use_cases.batch import MAX_BATCH, PushBatch
from tests.composition import new_user
from tests.entries import upload, version


@pytest.fixture
async def user(container):
    return await new_user(container, tier=PrivacyTier.FULL_SYNC)


def batch(container, limits: EntryLimits | None = None) -> PushBatch:
    return PushBatch(container.uow_factory(), container.clock(), container.ids(), limits)


async def stored_bytes(container, user) -> tuple[int, int]:
    """The O(1) counter and the real sum of what is stored (kept versions included)."""
    async with container.uow_factory()() as uow:
        state = await uow.users.state(user)
        entries = await uow.entries.all(user)
        conflicts = await uow.conflicts.all(user)
        kept = await uow.entries.revisions_page(user, None, 10_000)
    real = sum(stored_size(e.version) for e in entries)
    real += sum(stored_size(c.local) for c in conflicts if c.is_open)
    real += sum(r.size for r in kept)
    return state.stored_bytes, real


async def test_each_item_is_decided_as_a_single_push_would(container, user):
    a, b, c = (uuid.UUID(int=n) for n in (1, 2, 3))
    await container.push_entry()(user, upload(a, version("laptop")))
    await container.push_entry()(user, upload(b, version("tablet")))
    kept = version("laptop")
    await container.push_entry()(user, upload(c, kept))
    results = await batch(container)(
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
    changes = (await container.pull_changes()(user, 3)).changes
    assert [(e.id, e.change_seq) for e in changes] == [(uuid.UUID(int=4), 4), (a, 5)]
    counter, real = await stored_bytes(container, user)
    assert counter == real


async def test_atomic_stores_nothing_on_a_conflict(container, user):
    theirs = uuid.UUID(int=1)
    await container.push_entry()(user, upload(theirs, version("tablet")))
    before = await stored_bytes(container, user)
    with pytest.raises(BatchConflict) as err:
        await batch(container)(
            user,
            [upload(uuid.UUID(int=2), version("laptop")), upload(theirs, version("laptop"))],
            atomic=True,
        )
    assert err.value.entry_ids == [theirs]
    assert await stored_bytes(container, user) == before
    assert [e.id for e in (await container.pull_changes()(user)).changes] == [theirs]
    with pytest.raises(EntryConflict):  # and no conflict was kept: the single push makes one
        await container.push_entry()(user, upload(theirs, version("laptop")))


async def test_the_quota_is_checked_on_the_whole_batch(container, user):
    limits = EntryLimits(max_user_bytes=2 * (ROW_OVERHEAD_BYTES + 10))
    items = [upload(uuid.UUID(int=n), version(content=b"x" * 10)) for n in range(1, 4)]
    with pytest.raises(LimitExceeded, match="quota"):
        await batch(container, limits)(user, items)
    assert (await container.pull_changes()(user)).changes == []
    assert len(await batch(container, limits)(user, items[:2])) == 2


async def test_the_batch_input_rules(container, user):
    push = batch(container)
    with pytest.raises(LimitExceeded, match=str(MAX_BATCH)):
        await push(user, [upload(uuid.uuid4(), version()) for _ in range(MAX_BATCH + 1)])
    same = uuid.UUID(int=7)
    with pytest.raises(ValidationFailed) as err:
        await push(
            user,
            [upload(same, version()), upload(uuid.uuid4(), version()), upload(same, version())],
        )
    assert err.value.field == "entries.2.id"
    await container.push_entry()(user, upload(same, version()))
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
    assert [e.id for e in (await container.pull_changes()(user)).changes] == [same]
