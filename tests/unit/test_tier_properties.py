"""Property: a tier change deletes exactly the cloud data the new tier does not keep."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timezone

from hypothesis import given
from hypothesis import strategies as st

from reflective_app.container import Container
from reflective_domain.errors import EntryConflict
from reflective_domain.tiers import CloudData, PrivacyTier
from reflective_domain.use_cases.metrics import MetricUpload
from tests.composition import memory_container, new_user
from tests.entries import upload, version
from tests.fakes import (
    plain_ciphertext,
)
from tests.strategies import tiers

UTC = timezone.utc


async def holdings(svc: Container, user_id: uuid.UUID) -> dict[CloudData, bool]:
    async with svc.uow_factory()() as uow:
        user = await uow.users.get(user_id)
        assert user is not None
        return {
            CloudData.HE_KEY: user.he_public_key is not None,
            CloudData.METRICS: await uow.metrics.count(user_id) > 0,
            CloudData.ENTRIES: bool(await uow.entries.all(user_id)),
            CloudData.CONFLICTS: bool(await uow.conflicts.all(user_id)),
        }


async def fill(svc: Container, user_id: uuid.UUID, tier: PrivacyTier) -> None:
    """Store every kind of data ``tier`` permits."""
    now = svc.clock().now()
    if tier.permits(CloudData.METRICS):
        await svc.upload_metrics()(user_id, [MetricUpload("word_count", now, plain_ciphertext(3))])
    if tier.permits(CloudData.ENTRIES):
        entry = uuid.uuid4()
        await svc.push_entry()(user_id, upload(entry, version("phone")))
        with contextlib.suppress(EntryConflict):  # the conflict is the point
            await svc.push_entry()(user_id, upload(entry, version("laptop")))


@given(start=tiers, path=st.lists(tiers, min_size=1, max_size=4))
def test_a_tier_change_keeps_exactly_what_the_new_tier_permits(start, path):
    async def scenario() -> None:
        svc = memory_container()
        uid = await new_user(svc, tier=start)
        await fill(svc, uid, start)
        current = start
        for target in path:
            before = await holdings(svc, uid)
            svc.clock().advance(minutes=1)
            await svc.change_tier()(uid, target, svc.clock().now(), b"PK-1")
            after = await holdings(svc, uid)
            for kind in CloudData:
                if not target.permits(kind):
                    assert not after[kind], f"{kind} survived {current}->{target}"
                elif kind is not CloudData.HE_KEY:
                    assert after[kind] == before[kind], f"{kind} lost on {current}->{target}"
            await fill(svc, uid, target)
            current = target

    asyncio.run(scenario())


def test_revoke_reports_what_it_deleted():
    async def scenario() -> None:
        svc = memory_container()
        uid = await new_user(svc, tier=PrivacyTier.FULL_SYNC)
        await fill(svc, uid, PrivacyTier.FULL_SYNC)
        result = await svc.revoke_sync()(uid)
        assert (result.deleted.metrics, result.deleted.entries, result.deleted.conflicts) == (
            1,
            1,
            1,
        )
        assert result.state.tier is PrivacyTier.LOCAL_ONLY
        assert not any((await holdings(svc, uid)).values())

    asyncio.run(scenario())
