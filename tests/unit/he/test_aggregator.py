"""SealAggregator: sums and averages that the vectors' own client decrypts, no mocks."""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from typing import Any

import pytest

from reflective_adapters.he import SealAggregator, SealCiphertextValidator, storage
from reflective_adapters.he.header import CompressionMode, read_header
from reflective_domain.errors import InvalidCiphertext
from reflective_domain.he_params import CkksParameters
from tests.unit.he.client_side import SealClient, tenseal_encrypt
from tests.unit.he.conftest import VectorMetric


def for_client(result: bytes) -> bytes:
    """A result as the server hands it to a client: SEAL's bytes, not its storage encoding."""
    return storage.for_client(result)


def of_type(metrics: list[VectorMetric], metric_type: str) -> list[bytes]:
    return [m.ciphertext for m in metrics if m.metric_type == metric_type]


# (b) sums and averages, decrypted by the client that made the vectors


@pytest.mark.parametrize("metric_type", ["word_count", "sentiment_score"])
async def test_sum_and_average_decrypt_to_the_expected_values(
    aggregator: SealAggregator,
    parameters: CkksParameters,
    metrics: list[VectorMetric],
    client: SealClient,
    vectors: dict[str, Any],
    metric_type: str,
) -> None:
    expected, tolerance = vectors["expected"][metric_type], vectors["tolerance"]
    items = of_type(metrics, metric_type)
    assert len(items) == expected["count"]

    total = await aggregator.add(parameters, items)
    average = await aggregator.multiply_plain(parameters, total, 1.0 / len(items))

    assert client.decrypt(for_client(total)) == pytest.approx(expected["sum"], abs=tolerance)
    assert client.decrypt(for_client(average)) == pytest.approx(expected["average"], abs=tolerance)


async def test_a_time_ranged_sum(
    aggregator: SealAggregator,
    parameters: CkksParameters,
    metrics: list[VectorMetric],
    client: SealClient,
    vectors: dict[str, Any],
) -> None:
    expected = vectors["expected"]["word_count_2026_11_01_to_2026_11_05_end"]
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    end = datetime(2026, 11, 5, 23, 59, 59, 999999, tzinfo=timezone.utc)
    items = [
        m.ciphertext
        for m in metrics
        if m.metric_type == "word_count" and start <= m.timestamp <= end
    ]
    assert len(items) == expected["count"]
    total = await aggregator.add(parameters, items)
    assert client.decrypt(for_client(total)) == pytest.approx(
        expected["sum"], abs=vectors["tolerance"]
    )


async def test_an_average_keeps_the_parameters_scale_one_level_down(
    aggregator: SealAggregator,
    parameters: CkksParameters,
    ciphertexts: list[bytes],
    client: SealClient,
) -> None:
    average = await aggregator.multiply_plain(parameters, ciphertexts[0], 0.5)
    loaded = client.load(for_client(average))
    assert loaded.scale == parameters.scale
    assert loaded.size() == 2
    fresh = client.load(ciphertexts[0])
    assert loaded.coeff_modulus_size() == fresh.coeff_modulus_size() - 1


async def test_results_for_clients_are_seal_4_1_zstd_and_pass_the_header_checks(
    aggregator: SealAggregator, parameters: CkksParameters, ciphertexts: list[bytes]
) -> None:
    results = [
        await aggregator.add(parameters, ciphertexts),
        await aggregator.multiply_plain(parameters, ciphertexts[0], 0.25),
    ]
    assert all(storage.is_compact(result) for result in results)  # as rollups are stored
    for result in await aggregator.for_client(results):
        header = read_header(result, max_size=2 * 1024 * 1024)
        assert (header.version, header.compression) == ((4, 1), CompressionMode.ZSTD)


async def test_a_sum_is_itself_a_fresh_looking_ciphertext_that_adds_further(
    aggregator: SealAggregator,
    parameters: CkksParameters,
    metrics: list[VectorMetric],
    client: SealClient,
) -> None:
    # Daily rollups are sums that later get added to raw metrics.
    words = of_type(metrics, "word_count")
    rollup = await aggregator.add(parameters, words[:2])
    await SealCiphertextValidator().check_ciphertexts(
        parameters, await aggregator.for_client([rollup])
    )
    total = await aggregator.add(parameters, [rollup, *words[2:]])
    assert client.decrypt(for_client(total)) == pytest.approx(2610.5, abs=1e-3)


async def test_adding_one_ciphertext_returns_the_same_value(
    aggregator: SealAggregator,
    parameters: CkksParameters,
    ciphertexts: list[bytes],
    client: SealClient,
) -> None:
    total = await aggregator.add(parameters, ciphertexts[:1])
    assert client.decrypt(for_client(total)) == pytest.approx(412, abs=1e-3)


async def test_repeated_averaging_runs_out_of_levels(
    aggregator: SealAggregator,
    parameters: CkksParameters,
    ciphertexts: list[bytes],
    client: SealClient,
) -> None:
    # [60, 40, 40, 60] leaves two rescales.
    once = await aggregator.multiply_plain(parameters, ciphertexts[0], 0.5)
    twice = await aggregator.multiply_plain(parameters, once, 0.5)
    assert client.decrypt(for_client(twice)) == pytest.approx(103, abs=1e-3)
    with pytest.raises(InvalidCiphertext, match="last level"):
        await aggregator.multiply_plain(parameters, twice, 0.5)


# (f) a TenSEAL client's ciphertexts round-trip


async def test_tenseal_client_ciphertexts_round_trip(
    aggregator: SealAggregator, parameters: CkksParameters
) -> None:
    items, secret_key = tenseal_encrypt(parameters, 10.5, -2.25, 100.0)
    tenseal_client = SealClient(parameters, secret_key)
    assert tenseal_client.decrypt(items[0]) == pytest.approx(10.5, abs=1e-6)

    total = await aggregator.add(parameters, items)
    average = await aggregator.multiply_plain(parameters, total, 1 / 3)

    assert tenseal_client.decrypt(for_client(total)) == pytest.approx(108.25, abs=1e-3)
    assert tenseal_client.decrypt(for_client(average)) == pytest.approx(108.25 / 3, abs=1e-3)


# Errors


async def test_a_bad_item_is_reported_with_its_index(
    aggregator: SealAggregator,
    parameters: CkksParameters,
    ciphertexts: list[bytes],
    vectors: dict[str, Any],
) -> None:
    bad = base64.b64decode(vectors["rejects"]["truncated"])
    with pytest.raises(InvalidCiphertext) as caught:
        await aggregator.add(parameters, [*ciphertexts[:2], bad])
    assert caught.value.index == 2
    assert caught.value.message.startswith("ciphertext is truncated")


async def test_ciphertexts_at_different_levels_do_not_add(
    aggregator: SealAggregator, parameters: CkksParameters, ciphertexts: list[bytes]
) -> None:
    lower = await aggregator.multiply_plain(parameters, ciphertexts[0], 0.5)
    with pytest.raises(InvalidCiphertext) as caught:
        await aggregator.add(parameters, [ciphertexts[0], lower])
    assert caught.value.index == 1
    assert "another level or scale" in caught.value.message


async def test_adding_nothing_is_a_programming_error(
    aggregator: SealAggregator, parameters: CkksParameters
) -> None:
    with pytest.raises(ValueError, match="at least one"):
        await aggregator.add(parameters, [])


@pytest.mark.parametrize("factor", [0.0, float("nan"), float("inf")])
async def test_factors_that_cannot_be_encoded_sensibly(
    aggregator: SealAggregator, parameters: CkksParameters, ciphertexts: list[bytes], factor: float
) -> None:
    with pytest.raises(ValueError, match="finite and non-zero"):
        await aggregator.multiply_plain(parameters, ciphertexts[0], factor)


async def test_a_factor_too_large_for_the_modulus(
    aggregator: SealAggregator, parameters: CkksParameters, ciphertexts: list[bytes]
) -> None:
    with pytest.raises(ValueError, match="cannot multiply by"):
        await aggregator.multiply_plain(parameters, ciphertexts[0], 1e30)
