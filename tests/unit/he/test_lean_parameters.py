"""The lean parameters announced to new keys (8192 / [60, 40, 60], the web client encoding
at 2^40), proven on ciphertexts node-seal made (tests/data/generate_node_seal_vectors.mjs):
sums, averages and time ranges over 10,000 metrics through the real use cases and SEAL."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from itertools import cycle
from pathlib import Path
from typing import Any

import pytest

from reflective_adapters.he import SealAggregator, SealCiphertextValidator
from reflective_domain.he_params import CkksParameters
from reflective_domain.metrics import AggregationRequest, Operation, TimeRange
from reflective_domain.tiers import PrivacyTier
from reflective_domain.use_cases.metrics import (
    Aggregate,
    MetricLimits,
    MetricUpload,
    UploadMetrics,
)
from tests.composition import memory_container, new_user
from tests.unit.he.client_side import SealClient

LEAN_VECTORS = Path(__file__).resolve().parents[2] / "data" / "he_ckks_node_seal_6_lean.json"
UTC = timezone.utc
YEAR = datetime(2026, 1, 1, tzinfo=UTC)
N = 10_000


@pytest.fixture(scope="module")
def lean() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(LEAN_VECTORS.read_text())
    return data


def test_the_vectors_are_under_the_announced_parameters(lean: dict[str, Any]) -> None:
    params = lean["context_params"]
    announced = CkksParameters.default()
    assert announced == CkksParameters.lean()
    assert params["poly_modulus_degree"] == announced.poly_modulus_degree
    assert tuple(params["coeff_mod_bit_sizes"]) == announced.coeff_mod_bit_sizes
    assert params["scale"] == announced.scale == 2.0**40
    for kind, expected in lean["expected"].items():  # node-seal's own sum agrees
        assert abs(expected["node_seal_sum"] - expected["sum"]) < lean["tolerance"], kind


def test_a_lean_ciphertext_is_under_three_quarters_of_an_original_one(
    lean: dict[str, Any],
) -> None:
    original = json.loads((LEAN_VECTORS.parent / "he_ckks_node_seal_6.json").read_text())
    lean_size = max(len(base64.b64decode(m["encrypted_value"])) for m in lean["metrics"])
    original_size = min(len(base64.b64decode(m["encrypted_value"])) for m in original["metrics"])
    assert lean_size < 0.75 * original_size


async def test_sums_averages_and_ranges_over_ten_thousand_metrics(lean: dict[str, Any]) -> None:
    svc = memory_container()
    uid = await new_user(svc, tier=PrivacyTier.ANALYTICS_SYNC)  # registered under the default
    aggregator, validator = SealAggregator(), SealCiphertextValidator()
    upload = UploadMetrics(
        svc.uow_factory(), validator, aggregator, svc.ids(), MetricLimits(chunk=500)
    )
    aggregate = Aggregate(svc.uow_factory(), aggregator)
    words = [m for m in lean["metrics"] if m["metric_type"] == "word_count"]
    step = timedelta(days=365) / N
    plain: list[tuple[datetime, float]] = []
    batch: list[MetricUpload] = []
    for i, vector in zip(range(N), cycle(words)):
        at = YEAR + step * i
        plain.append((at, vector["value"]))
        ciphertext = base64.b64decode(vector["encrypted_value"])
        batch.append(MetricUpload("word_count", at, ciphertext, f"entry-{i}"))
        if len(batch) == 2_500:
            assert (await upload(uid, batch)).new == 2_500
            batch = []
    secret = base64.b64decode(lean["secret_key"])
    client = SealClient(CkksParameters.lean(), secret_key=secret)
    ranges = [
        None,  # the year: twelve month rollups
        TimeRange(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 31, 23, 59, tzinfo=UTC)),
        TimeRange(datetime(2026, 2, 10, 7, tzinfo=UTC), datetime(2026, 9, 20, 16, tzinfo=UTC)),
        TimeRange(datetime(2026, 7, 4, 1, tzinfo=UTC), datetime(2026, 7, 4, 2, tzinfo=UTC)),
    ]
    for time_range in ranges:
        values = [v for at, v in plain if time_range is None or time_range.contains(at)]
        for operation in Operation:
            result = await aggregate(uid, AggregationRequest("word_count", operation, time_range))
            want = sum(values) / (len(values) if operation is Operation.AVERAGE else 1)
            assert result.count == len(values)
            got = client.decrypt(result.ciphertext)
            # CKKS is approximate: ~1e-7 per added ciphertext at scale 2^40.
            assert abs(got - want) < 1e-2 + 1e-9 * abs(want), (time_range, operation, got, want)
