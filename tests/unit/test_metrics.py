"""Encrypted metrics over the memory adapters and the additive fake: bookkeeping, not crypto."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reflective_domain.errors import ForbiddenByTier, InvalidCiphertext, NotFound, ValidationFailed
from reflective_domain.metrics import (
    AggregationRequest,
    Operation,
    TimeRange,
    next_month,
    plan_aggregation,
)
from reflective_domain.tiers import PrivacyTier
from reflective_domain.use_cases.metrics import MetricUpload
from tests.composition import memory_container, new_user
from tests.fakes import plain_ciphertext, plain_value
from tests.strategies import moments

UTC = timezone.utc
DAY = datetime(2026, 3, 10, tzinfo=UTC)


def m(value: float, at: datetime, kind: str = "word_count") -> MetricUpload:
    return MetricUpload(kind, at, plain_ciphertext(value))


async def analytics_user(svc):
    return await new_user(svc, tier=PrivacyTier.ANALYTICS_SYNC)


async def test_local_only_users_cannot_upload(container):
    uid = await new_user(container)
    with pytest.raises(ForbiddenByTier):
        await container.upload_metrics()(uid, [m(1, DAY)])


async def test_one_bad_ciphertext_rejects_the_whole_batch(container):
    uid = await analytics_user(container)
    batch = [m(1, DAY), m(2, DAY), MetricUpload("word_count", DAY, b"junk")]
    with pytest.raises(InvalidCiphertext) as err:
        await container.upload_metrics()(uid, batch)
    assert err.value.index == 2
    async with container.uow_factory()() as uow:
        assert await uow.metrics.count(uid) == 0


async def test_bad_metric_type_names_its_index(container):
    uid = await analytics_user(container)
    with pytest.raises(ValidationFailed) as err:
        await container.upload_metrics()(uid, [m(1, DAY), m(1, DAY, "Word Count")])
    assert err.value.field == "metrics.1.metric_type"


async def test_sum_and_average_over_everything(container):
    uid = await analytics_user(container)
    await container.upload_metrics()(
        uid, [m(10, DAY), m(20, DAY + timedelta(days=3)), m(5, DAY, "x")]
    )
    total = await container.aggregate()(uid, AggregationRequest("word_count", Operation.SUM))
    avg = await container.aggregate()(uid, AggregationRequest("word_count", Operation.AVERAGE))
    assert (plain_value(total.ciphertext), total.count) == (30, 2)
    assert plain_value(avg.ciphertext) == 15


async def test_nothing_in_range_is_not_found(container):
    uid = await analytics_user(container)
    await container.upload_metrics()(uid, [m(10, DAY)])
    far = TimeRange(DAY + timedelta(days=5), DAY + timedelta(days=6))
    with pytest.raises(NotFound):
        await container.aggregate()(uid, AggregationRequest("word_count", Operation.SUM, far))


async def test_a_year_adds_its_months_not_its_metrics(container):
    uid = await analytics_user(container)
    year = datetime(2025, 1, 1, tzinfo=UTC)
    batch = [m(1, year + timedelta(hours=h)) for h in range(0, 24 * 365, 12)]  # 730 metrics
    await container.upload_metrics()(uid, batch)
    container.he_aggregator().additions = 0
    result = await container.aggregate()(uid, AggregationRequest("word_count", Operation.SUM))
    assert result.count == 730 and plain_value(result.ciphertext) == 730
    assert container.he_aggregator().additions == 11  # 12 month rollups


async def test_a_ranged_year_adds_months_days_and_edges(container):
    uid = await analytics_user(container)
    year = datetime(2025, 1, 1, tzinfo=UTC)
    await container.upload_metrics()(
        uid, [m(1, year + timedelta(hours=h)) for h in range(0, 8760, 6)]
    )
    container.he_aggregator().additions = 0
    cut = TimeRange(datetime(2025, 1, 10, 12, tzinfo=UTC), datetime(2025, 12, 20, 3, tzinfo=UTC))
    result = await container.aggregate()(uid, AggregationRequest("word_count", Operation.SUM, cut))
    # Feb..Nov as 10 months, Jan 11-31 and Dec 1-19 as 40 days, 3 raw metrics on the edge days.
    assert container.he_aggregator().additions == 10 + 40 + 3 - 1
    in_range = [h for h in range(0, 8760, 6) if cut.contains(year + timedelta(hours=h))]
    assert result.count == len(in_range) and plain_value(result.ciphertext) == len(in_range)


def test_plan_uses_months_then_days_then_raw_edges():
    start = datetime(2026, 1, 10, 12, tzinfo=UTC)
    end = datetime(2026, 4, 5, 9, tzinfo=UTC)
    plan = plan_aggregation(TimeRange(start, end))
    assert plan.month_span == (date(2026, 2, 1), date(2026, 3, 1))
    assert plan.day_spans == (
        (date(2026, 1, 11), date(2026, 1, 31)),
        (date(2026, 4, 1), date(2026, 4, 4)),
    )
    assert plan.edge_days == (date(2026, 1, 10), date(2026, 4, 5))


def test_plan_uses_rollups_for_whole_days_and_raw_metrics_for_cut_edges():
    start = datetime.combine(date(2026, 3, 1), time(15), UTC)
    end = datetime.combine(date(2026, 3, 5), time(9), UTC)
    plan = plan_aggregation(TimeRange(start, end))
    assert plan.month_span is None
    assert plan.day_spans == ((date(2026, 3, 2), date(2026, 3, 4)),)
    assert plan.edge_days == (date(2026, 3, 1), date(2026, 3, 5))


def test_a_whole_month_is_one_rollup():
    start = datetime.combine(date(2026, 2, 1), time(0), UTC)
    end = datetime.combine(date(2026, 2, 28), time(23, 59, 59, 999999), UTC)
    plan = plan_aggregation(TimeRange(start, end))
    assert plan.month_span == (date(2026, 2, 1), date(2026, 2, 1))
    assert plan.day_spans == () and plan.edge_days == ()


def test_a_range_within_one_day_is_one_edge():
    plan = plan_aggregation(TimeRange(DAY + timedelta(hours=1), DAY + timedelta(hours=2)))
    assert plan.month_span is None and plan.day_spans == () and plan.edge_days == (DAY.date(),)


range_ends = st.one_of(
    moments,
    moments.map(lambda t: t.replace(hour=0, minute=0, second=0, microsecond=0)),
    moments.map(lambda t: t.replace(hour=23, minute=59, second=59, microsecond=999999)),
    moments.map(lambda t: t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)),
    moments.map(lambda t: next_month(t.date().replace(day=1)) - timedelta(days=1)).map(
        lambda d: datetime.combine(d, time(23, 59, 59, 999999), UTC)
    ),
)
metric_times = st.one_of(moments, range_ends)

metric_lists = st.lists(
    st.tuples(st.integers(-1000, 1000), metric_times, st.sampled_from(["word_count", "sentiment"])),
    min_size=1,
    max_size=30,
)


@given(
    metrics=metric_lists,
    batches=st.integers(1, 3),
    a=range_ends,
    b=range_ends,
    op=st.sampled_from(list(Operation)),
)
def test_rollup_aggregation_equals_the_naive_sum(metrics, batches, a, b, op):
    """Whatever the range and however the uploads were batched, the rolled-up answer is the
    answer of adding every metric in range one by one."""

    async def scenario() -> None:
        svc = memory_container()
        uid = await analytics_user(svc)
        uploads = [m(v, at, kind) for v, at, kind in metrics]
        step = -(-len(uploads) // batches)
        for i in range(0, len(uploads), step):
            await svc.upload_metrics()(uid, uploads[i : i + step])
        time_range = TimeRange(min(a, b), max(a, b))
        expected = [
            v for v, at, kind in metrics if kind == "word_count" and time_range.contains(at)
        ]
        request = AggregationRequest("word_count", op, time_range)
        if not expected:
            with pytest.raises(NotFound):
                await svc.aggregate()(uid, request)
            return
        result = await svc.aggregate()(uid, request)
        want = sum(expected) / (len(expected) if op is Operation.AVERAGE else 1)
        assert result.count == len(expected)
        assert plain_value(result.ciphertext) == pytest.approx(want)

    asyncio.run(scenario())


async def test_the_metric_quota_counts_what_is_stored(container):
    from reflective_domain.errors import LimitExceeded
    from reflective_domain.use_cases.metrics import MetricLimits, UploadMetrics

    uid = await analytics_user(container)
    upload = UploadMetrics(
        container.uow_factory(),
        container.he_aggregator(),
        container.he_aggregator(),
        container.ids(),
        MetricLimits(max_per_user=3),
    )
    await upload(uid, [m(1, DAY), m(2, DAY)])
    with pytest.raises(LimitExceeded, match="quota"):
        await upload(uid, [m(3, DAY), m(4, DAY)])
    assert (await upload(uid, [m(3, DAY)])).new == 1


async def test_a_resent_batch_is_recognised_and_not_counted_twice(container):
    uid = await analytics_user(container)
    batch = [
        MetricUpload("word_count", DAY, plain_ciphertext(5), log_id="entry-1"),
        MetricUpload("sentiment_score", DAY, plain_ciphertext(0.5), log_id="entry-1"),
        MetricUpload("word_count", DAY, plain_ciphertext(7)),  # no log_id: always stored
    ]
    first = await container.upload_metrics()(uid, batch)
    again = await container.upload_metrics()(uid, batch)
    assert (first.received, first.new) == (3, 3)
    assert (again.received, again.new) == (3, 1)
    total = await container.aggregate()(uid, AggregationRequest("word_count", Operation.SUM))
    assert (total.count, plain_value(total.ciphertext)) == (3, 19)
    # A new measurement of the same entry (new ciphertext) replaces the old one.
    newer = [MetricUpload("word_count", DAY, plain_ciphertext(6), log_id="entry-1")]
    stored = await container.upload_metrics()(uid, newer)
    assert (stored.new, stored.replaced) == (1, 1)
