"""The replacement and retraction property under real CKKS: rollups kept by homomorphic
addition and subtraction decrypt to the plaintext sums of the live metrics."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reflective_adapters.he import SealAggregator, SealCiphertextValidator
from reflective_domain.he_params import CkksParameters
from reflective_domain.metrics import AggregationRequest, Operation, TimeRange
from reflective_domain.tiers import PrivacyTier
from reflective_domain.use_cases.metrics import (
    Aggregate,
    MetricUpload,
    RetractMetrics,
    UploadMetrics,
)
from tests.composition import memory_container, new_user
from tests.unit.he.client_side import SealClient

UTC = timezone.utc
DAY = datetime(2026, 5, 30, 10, tzinfo=UTC)
TIMES = [DAY, DAY + timedelta(hours=5), DAY + timedelta(days=3)]  # two months, three days
MONTH = TimeRange(datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 5, 31, 23, 59, tzinfo=UTC))
TOLERANCE = 1e-3

_client: SealClient | None = None


def client() -> SealClient:
    global _client
    if _client is None:
        _client = SealClient(CkksParameters.default())
    return _client


steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("upload"),
            st.sampled_from(["a", "b", "c"]),
            st.sampled_from(TIMES),
            st.floats(-1000, 5000, allow_nan=False).map(lambda v: round(v, 3)),
        ),
        st.tuples(st.just("retract"), st.sampled_from(["a", "b", "c"])),
    ),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(steps=steps)
def test_rollups_decrypt_to_the_live_sums(steps) -> None:
    async def scenario() -> None:
        svc = memory_container()
        uid = await new_user(svc, tier=PrivacyTier.ANALYTICS_SYNC)
        aggregator, validator = SealAggregator(), SealCiphertextValidator()
        upload = UploadMetrics(svc.uow_factory(), validator, aggregator, svc.ids())
        retract = RetractMetrics(svc.uow_factory(), aggregator)
        aggregate = Aggregate(svc.uow_factory(), aggregator)
        live: dict[str, tuple[datetime, float]] = {}
        for step in steps:
            if step[0] == "upload":
                _, log_id, at, value = step
                ciphertext = client().encrypt(value)
                await upload(uid, [MetricUpload("word_count", at, ciphertext, log_id)])
                live[log_id] = (at, value)
            else:
                await retract(uid, step[1])
                live.pop(step[1], None)
            for time_range in (None, MONTH):
                values = [
                    v for at, v in live.values() if time_range is None or time_range.contains(at)
                ]
                if not values:
                    continue
                for op in Operation:
                    result = await aggregate(uid, AggregationRequest("word_count", op, time_range))
                    want = sum(values) / (len(values) if op is Operation.AVERAGE else 1)
                    assert result.count == len(values)
                    assert abs(client().decrypt(result.ciphertext) - want) < TOLERANCE

    asyncio.run(scenario())
