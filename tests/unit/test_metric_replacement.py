"""Replacement and retraction of metrics by the entry they measure (``log_id``), over the
memory adapters and the additive fake: the rollups must always equal the live metrics."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reflective_domain.errors import LimitExceeded, NotFound, ValidationFailed
from reflective_domain.metrics import AggregationRequest, Operation, TimeRange
from reflective_domain.tiers import PrivacyTier
from reflective_domain.use_cases.metrics import MetricLimits, MetricUpload, UploadMetrics
from tests.composition import memory_container, new_user
from tests.entries import upload, version
from tests.fakes import plain_ciphertext, plain_value

UTC = timezone.utc
DAY = datetime(2026, 3, 10, 9, tzinfo=UTC)
WORDS = "word_count"


def metric(value: float, log_id: str | None, at: datetime = DAY, kind: str = WORDS):
    return MetricUpload(kind, at, plain_ciphertext(value), log_id)


async def total(svc, uid, kind: str = WORDS, time_range: TimeRange | None = None):
    result = await svc.aggregate()(uid, AggregationRequest(kind, Operation.SUM, time_range))
    return result.count, plain_value(result.ciphertext)


async def test_a_new_measurement_of_an_entry_replaces_the_old_one(container):
    uid = await new_user(container, tier=PrivacyTier.ANALYTICS_SYNC)
    await container.upload_metrics()(
        uid, [metric(5, "e1"), metric(3, "e2", DAY + timedelta(days=1))]
    )
    stored = await container.upload_metrics()(uid, [metric(9, "e1", DAY + timedelta(days=40))])
    assert (stored.received, stored.new, stored.replaced) == (1, 1, 1)
    assert await total(container, uid) == (2, 12)
    # The old day's rollup went with its only metric; the new day has the new value.
    old_day = TimeRange(DAY.replace(hour=0), DAY.replace(hour=23, minute=59))
    with pytest.raises(NotFound):
        await total(container, uid, time_range=old_day)
    async with container.uow_factory()() as uow:
        assert await uow.metrics.count(uid) == 2


async def test_within_one_upload_the_last_measurement_of_an_entry_wins(container):
    uid = await new_user(container, tier=PrivacyTier.ANALYTICS_SYNC)
    stored = await container.upload_metrics()(
        uid, [metric(1, "e1"), metric(2, "e1"), metric(4, None)]
    )
    assert (stored.received, stored.new) == (3, 2)
    assert await total(container, uid) == (2, 6)


async def test_types_are_replaced_separately(container):
    uid = await new_user(container, tier=PrivacyTier.ANALYTICS_SYNC)
    await container.upload_metrics()(uid, [metric(5, "e1"), metric(0.5, "e1", kind="sentiment")])
    await container.upload_metrics()(uid, [metric(7, "e1")])
    assert await total(container, uid) == (1, 7)
    assert await total(container, uid, "sentiment") == (1, 0.5)


async def test_log_ids_that_are_uuids_match_in_any_spelling(container):
    uid = await new_user(container, tier=PrivacyTier.ANALYTICS_SYNC)
    entry = uuid.uuid4()
    await container.upload_metrics()(uid, [metric(5, str(entry).upper())])
    await container.upload_metrics()(uid, [metric(8, "{" + str(entry) + "}")])
    assert await total(container, uid) == (1, 8)


async def test_retracting_an_entry_removes_its_metrics_from_every_sum(container):
    uid = await new_user(container, tier=PrivacyTier.ANALYTICS_SYNC)
    later = DAY + timedelta(hours=2)
    await container.upload_metrics()(
        uid,
        [metric(5, "e1"), metric(0.2, "e1", kind="sentiment"), metric(3, "e2", later)],
    )
    assert await container.retract_metrics()(uid, "e1") == 2
    assert await total(container, uid) == (1, 3)
    with pytest.raises(NotFound):
        await total(container, uid, "sentiment")
    assert await container.retract_metrics()(uid, "e1") == 0  # idempotent
    with pytest.raises(ValidationFailed):
        await container.retract_metrics()(uid, " ")


async def test_deleting_an_entry_retracts_its_metrics(container):
    uid = await new_user(container, tier=PrivacyTier.FULL_SYNC)
    kept, dropped = uuid.uuid4(), uuid.uuid4()
    await container.push_entry()(uid, upload(kept, version()))
    await container.push_entry()(uid, upload(dropped, version()))
    await container.upload_metrics()(uid, [metric(5, str(kept)), metric(7, str(dropped))])
    await container.delete_entry()(uid, dropped)
    assert await total(container, uid) == (1, 5)
    await container.upload_metrics()(uid, [metric(2, "not-an-entry")])
    # Removing every entry from the server is not deleting them from the journal.
    await container.delete_all_entries()(uid)
    assert await total(container, uid) == (2, 7)


async def test_the_byte_quota_counts_replacements_as_net_change(container):
    uid = await new_user(container, tier=PrivacyTier.ANALYTICS_SYNC)
    one = len(plain_ciphertext(0)) + 128
    limited = UploadMetrics(
        container.uow_factory(),
        container.he_aggregator(),
        container.he_aggregator(),
        container.ids(),
        MetricLimits(max_bytes_per_user=2 * one),
    )
    await limited(uid, [metric(1, "e1"), metric(2, "e2")])
    assert (await limited(uid, [metric(3, "e1")])).replaced == 1  # same size: fits
    with pytest.raises(LimitExceeded, match="bytes"):
        await limited(uid, [metric(4, "e3")])
    assert await total(container, uid) == (2, 5)


async def test_an_upload_that_fails_half_way_stores_nothing(container):
    uid = await new_user(container, tier=PrivacyTier.ANALYTICS_SYNC)
    await container.upload_metrics()(uid, [metric(5, "e1")])
    limited = UploadMetrics(
        container.uow_factory(),
        container.he_aggregator(),
        container.he_aggregator(),
        container.ids(),
        MetricLimits(chunk=2),
    )

    async def items_then_disconnect():
        for value in (1, 2, 3):
            yield metric(value, f"x{value}")
        yield metric(6, "e1")
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await limited.stream(uid, items_then_disconnect())
    assert await total(container, uid) == (1, 5)


# --- the property -----------------------------------------------------------------------

LOG_IDS = ["a", "b", "c", None]
KINDS = [WORDS, "sentiment"]
TIMES = [DAY + timedelta(days=d, hours=h) for d in (0, 1, 31, 45) for h in (0, 13)]

uploads_ = st.lists(
    st.tuples(
        st.sampled_from(LOG_IDS),
        st.sampled_from(KINDS),
        st.sampled_from(TIMES),
        st.integers(-50, 500),
    ),
    min_size=1,
    max_size=6,
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("upload"), uploads_),
        st.tuples(st.just("retract"), st.sampled_from(LOG_IDS[:-1])),
    ),
    min_size=1,
    max_size=8,
)
ranges = [
    None,
    TimeRange(DAY.replace(hour=0), DAY.replace(hour=23, minute=59, second=59, microsecond=999999)),
    TimeRange(DAY + timedelta(hours=1), DAY + timedelta(days=31, hours=5)),
    TimeRange(DAY - timedelta(days=60), DAY + timedelta(days=60)),
]


@settings(max_examples=150, deadline=None)
@given(steps=steps)
def test_every_aggregate_is_the_sum_of_the_live_metrics(steps):
    """After any sequence of uploads, replacements and retractions, every sum and average
    over any range equals the plaintext arithmetic over the metrics still live."""

    async def scenario() -> None:
        svc = memory_container()
        uid = await new_user(svc, tier=PrivacyTier.ANALYTICS_SYNC)
        live: dict[object, tuple[str, datetime, int]] = {}
        anonymous = 0
        for step in steps:
            if step[0] == "upload":
                await svc.upload_metrics()(
                    uid, [metric(v, log_id, at, kind) for log_id, kind, at, v in step[1]]
                )
                latest: dict[object, tuple[str, datetime, int]] = {}
                for log_id, kind, at, value in step[1]:
                    key: object = (log_id, kind) if log_id is not None else (anonymous,)
                    anonymous += log_id is None
                    latest[key] = (kind, at, value)
                for key, held in latest.items():
                    # The fake's ciphertexts are deterministic: equal bytes are a resend.
                    if key not in live or live[key][2] != held[2]:
                        live[key] = held
            else:
                await svc.retract_metrics()(uid, step[1])
                live = {k: v for k, v in live.items() if k[0] != step[1]}
            for kind in KINDS:
                for time_range in ranges:
                    values = [
                        v
                        for k, at, v in live.values()
                        if k == kind and (time_range is None or time_range.contains(at))
                    ]
                    for op in Operation:
                        request = AggregationRequest(kind, op, time_range)
                        if not values:
                            with pytest.raises(NotFound):
                                await svc.aggregate()(uid, request)
                            continue
                        result = await svc.aggregate()(uid, request)
                        want = sum(values) / (len(values) if op is Operation.AVERAGE else 1)
                        assert result.count == len(values)
                        assert plain_value(result.ciphertext) == pytest.approx(want)

    asyncio.run(scenario())
