"""Key-free contexts and the serialized parameters clients build theirs from."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import _sealapi_cpp as sealapi
import pytest

from reflective_adapters.he import SealAggregator, context_for
from reflective_adapters.he.header import CompressionMode, read_header
from reflective_domain.errors import ValidationFailed
from reflective_domain.he_params import CkksParameters
from tests.unit.he.client_side import SealClient, load


def test_contexts_are_cached_per_parameter_set(parameters: CkksParameters) -> None:
    assert context_for(parameters) is context_for(CkksParameters.original())
    other = CkksParameters(8192, (60, 40, 60), float(2**40))
    assert context_for(other) is not context_for(parameters)


def test_size_bounds_match_the_parameters(parameters: CkksParameters) -> None:
    context = context_for(parameters)
    assert context.ciphertext_bound == 97 + 2 * 8192 * 3 * 8  # 3 data primes
    assert context.public_key_bound == 97 + 2 * 8192 * 4 * 8  # plus the special prime


def test_the_first_level_is_where_the_vectors_are(
    parameters: CkksParameters, client: SealClient, ciphertexts: list[bytes]
) -> None:
    assert context_for(parameters).first_parms_id == list(client.load(ciphertexts[0]).parms_id())


def test_parameters_seal_refuses_are_a_validation_failure() -> None:
    with pytest.raises(ValidationFailed) as caught:
        context_for(CkksParameters(4096, (60, 40, 40, 60), float(2**40)))
    assert caught.value.field == "he_parameters"


def test_bit_sizes_seal_finds_no_primes_for() -> None:
    # There are not 16 distinct 18-bit primes congruent to 1 mod 2 * 32768.
    with pytest.raises(ValidationFailed, match="no primes"):
        context_for(CkksParameters(32768, (18,) * 16, float(2**10)))


# (g) the serialized context: parameters only, never a key


def serialized(parameters: CkksParameters) -> bytes:
    return SealAggregator().serialized_context(parameters)


def test_serialized_context_is_seal_native_and_tiny(parameters: CkksParameters) -> None:
    data = serialized(parameters)
    header = read_header(data, max_size=4096, kind="parameters")
    assert (header.version, header.compression) == ((4, 1), CompressionMode.ZSTD)
    # Any key at this degree has at least 2 x 8192 64-bit coefficients (128 KiB).
    assert len(data) < 256


def test_serialized_context_rebuilds_the_clients_context(
    parameters: CkksParameters, client: SealClient, ciphertexts: list[bytes], tmp_path: Path
) -> None:
    path = tmp_path / "parms.seal"
    path.write_bytes(serialized(parameters))
    parms = sealapi.EncryptionParameters(sealapi.SCHEME_TYPE.CKKS)
    parms.load(str(path))
    assert parms.scheme() == sealapi.SCHEME_TYPE.CKKS
    assert parms.poly_modulus_degree() == 8192
    rebuilt = sealapi.SEALContext(parms, True, sealapi.SEC_LEVEL_TYPE.TC128)
    # Same primes, hence the same parms_id the client's ciphertexts carry.
    assert list(rebuilt.first_parms_id()) == list(client.load(ciphertexts[0]).parms_id())
    # And a client's keys load under it.
    load(sealapi.PublicKey(), rebuilt, client.public_key_bytes)


def test_serialized_context_holds_no_key(
    parameters: CkksParameters, vectors: dict[str, Any], client: SealClient
) -> None:
    data = serialized(parameters)
    secret_key = base64.b64decode(vectors["secret_key"])
    assert secret_key[16:80] not in data
    assert data != secret_key[: len(data)]
    with pytest.raises(RuntimeError):
        load(sealapi.SecretKey(), client.context, data)


def test_serialized_context_is_cached(parameters: CkksParameters) -> None:
    aggregator = SealAggregator()
    assert aggregator.serialized_context(parameters) is aggregator.serialized_context(parameters)
