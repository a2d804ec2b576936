"""The compact storage encoding: lossless over real ciphertexts at both parameter sets, smaller
than SEAL's zstd, strict about what it decodes, and never accepted from a client."""

from __future__ import annotations

import struct
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reflective_adapters.he import SealAggregator, SealCiphertextValidator, storage
from reflective_adapters.he.codec import SealCodec
from reflective_adapters.he.context import context_for
from reflective_adapters.he.errors import SealFormatError
from reflective_adapters.he.header import CompressionMode, read_header
from reflective_client.crypto.he import CkksKeys
from reflective_domain.errors import InvalidCiphertext, LimitExceeded
from reflective_domain.he_params import CkksParameters
from reflective_domain.metrics import METRIC_ROW_OVERHEAD_BYTES
from reflective_domain.tiers import PrivacyTier
from reflective_domain.use_cases.metrics import MetricLimits, MetricUpload, UploadMetrics
from tests.composition import memory_container, new_user
from tests.unit.he.client_side import SealClient, seal_content

PARAMETER_SETS = {"original": CkksParameters.original(), "lean": CkksParameters.lean()}
_clients: dict[str, SealClient] = {}


def client_for(name: str) -> SealClient:
    if name not in _clients:
        _clients[name] = SealClient(PARAMETER_SETS[name])
    return _clients[name]


def stored(parameters: CkksParameters, data: bytes) -> bytes:
    return SealCodec().load_for_storage(context_for(parameters), data)[1]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(
    name=st.sampled_from(sorted(PARAMETER_SETS)),
    value=st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: round(v, 4)),
)
def test_a_real_ciphertext_round_trips_exactly(name: str, value: float) -> None:
    client = client_for(name)
    sent = client.encrypt(value)
    compact = stored(client.parameters, sent)

    assert storage.is_compact(compact) and not storage.is_compact(sent)
    # Lossless: SEAL's own uncompressed serialization of the very same ciphertext.
    assert storage.decode(compact) == seal_content_as_uncompressed(sent)
    back = storage.for_client(compact)
    assert read_header(back, max_size=len(back)).compression is CompressionMode.ZSTD
    assert seal_content(back) == seal_content(sent)
    assert client.decrypt(back) == pytest.approx(value, abs=1e-3)


def seal_content_as_uncompressed(data: bytes) -> bytes:
    content = seal_content(data)
    return struct.pack("<HBBBBHQ", 0xA15E, 16, 4, 1, 0, 0, 16 + len(content)) + content


@pytest.mark.parametrize(("name", "prime_bits"), [("original", 60 + 40 + 40), ("lean", 60 + 40)])
def test_each_coefficient_takes_its_primes_bits(name: str, prime_bits: int) -> None:
    client = client_for(name)
    sent = client.encrypt(412.0)
    compact = stored(client.parameters, sent)
    # 2 polynomials of 8192 coefficients per prime, plus a 78-byte head and a byte per prime
    # of the data level (the last, special prime is not in a ciphertext).
    data_primes = len(client.parameters.coeff_mod_bit_sizes) - 1
    assert len(compact) == 2 * 8192 * prime_bits // 8 + 5 + 73 + data_primes
    assert len(compact) < 0.9 * len(sent)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(bits=st.integers(1, 61), seed=st.integers(0, 2**32 - 1))
def test_packing_is_lossless_for_any_width(bits: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    words = rng.integers(0, 2**bits, size=64, dtype=np.uint64, endpoint=False)
    words[0] = 2**bits - 1  # the widest value
    packed = storage._pack(words, bits)
    assert len(packed) == 64 * bits // 8
    assert np.array_equal(storage._unpack(memoryview(packed), bits, 64), words)


def test_a_coefficient_wider_than_its_prime_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        storage._pack(np.array([2**40] * 8, dtype=np.uint64), 40)


async def test_a_seeded_ciphertext_is_stored_as_sent() -> None:
    # The SDK's symmetric encryption saves the second polynomial as a seed: smaller than any
    # packing of two full polynomials, so it is kept as SEAL bytes, and adds like any other.
    keys = CkksKeys.generate(CkksParameters.lean())
    sent = keys.encrypt(7.5, symmetric=True)
    assert len(sent) < 0.8 * 204_880
    assert stored(keys.parameters, sent) == sent
    plain = keys.encrypt(2.5, symmetric=False)
    aggregator = SealAggregator()
    total = await aggregator.add(keys.parameters, [sent, stored(keys.parameters, plain)])
    (back,) = await aggregator.for_client([total])
    assert keys.decrypt(back) == pytest.approx(10.0, abs=1e-4)


async def test_sums_of_stored_ciphertexts_decrypt() -> None:
    client = client_for("lean")
    values = [3.5, -1.25, 100.0]
    items = [stored(client.parameters, client.encrypt(v)) for v in values]
    aggregator = SealAggregator()
    total = await aggregator.add(client.parameters, items)
    assert storage.is_compact(total)
    (back,) = await aggregator.for_client([total])
    assert client.decrypt(back) == pytest.approx(sum(values), abs=1e-3)


@pytest.fixture(scope="module")
def compact() -> bytes:
    client = client_for("lean")
    return stored(client.parameters, client.encrypt(1.0))


def corrupt(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d[:40], "truncated"),
        (lambda d: d[:-1], "its dimensions make"),
        (lambda d: d + b"\x00", "its dimensions make"),
        (lambda d: corrupt(d, 4, b"\x02"), "version 2"),
        (lambda d: corrupt(d, 5 + 33, struct.pack("<Q", 0)), "impossible dimensions"),
        (lambda d: corrupt(d, 5 + 41, struct.pack("<Q", 2**20)), "impossible dimensions"),
        (lambda d: corrupt(d, 5 + 49, struct.pack("<Q", 65)), "impossible dimensions"),
        (lambda d: corrupt(d, 5 + 73, b"\x00"), "invalid prime sizes"),
        (lambda d: corrupt(d, 5 + 73, b"\x3e"), "invalid prime sizes"),
    ],
)
def test_malformed_compact_bytes_are_refused(compact: bytes, change: Any, message: str) -> None:
    with pytest.raises(SealFormatError, match=message):
        storage.decode(change(compact))


def test_seal_refuses_a_decoded_ciphertext_whose_coefficients_were_altered(
    compact: bytes,
) -> None:
    # Every bit of the last coefficient set: above the 40-bit prime, which SEAL's load refuses.
    altered = compact[:-5] + b"\xff" * 5
    with pytest.raises(SealFormatError, match="not valid under these CKKS parameters"):
        SealCodec().load_ciphertext(context_for(CkksParameters.lean()), altered)


async def test_clients_cannot_upload_the_storage_encoding(compact: bytes) -> None:
    validator = SealCiphertextValidator()
    with pytest.raises(InvalidCiphertext, match="SEAL header is missing") as caught:
        await validator.admit_ciphertexts(CkksParameters.lean(), [compact])
    assert caught.value.index == 0


async def test_the_byte_quota_counts_what_is_stored() -> None:
    container = memory_container()
    uid = await new_user(container, tier=PrivacyTier.ANALYTICS_SYNC)  # under the lean default
    client = client_for("lean")
    sent = client.encrypt(1.0)
    # Room for the compact form and its row, not for the bytes as sent.
    limits = MetricLimits(max_bytes_per_user=204_880 + METRIC_ROW_OVERHEAD_BYTES)
    assert len(sent) + METRIC_ROW_OVERHEAD_BYTES > limits.max_bytes_per_user
    upload = UploadMetrics(
        container.uow_factory(),
        SealCiphertextValidator(),
        SealAggregator(),
        container.ids(),
        limits,
    )
    at = datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
    stored_one = await upload(uid, [MetricUpload("word_count", at, sent, "a")])
    assert stored_one.new == 1
    with pytest.raises(LimitExceeded, match="bytes of metrics"):
        await upload(uid, [MetricUpload("word_count", at, client.encrypt(2.0), "b")])
