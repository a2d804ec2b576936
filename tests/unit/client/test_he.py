"""CKKS metrics are interoperable with node-seal 6 (the web client) and the server's codec."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from reflective_adapters.he import SealAggregator, SealCiphertextValidator
from reflective_client.crypto.he import CkksKeys
from reflective_client.crypto.seal_io import declared_size
from reflective_client.errors import DecryptionError
from reflective_domain.he_params import CkksParameters
from tests.unit.he.client_side import SealClient


def _params(vectors: dict[str, Any]) -> CkksParameters:
    p = vectors["context_params"]
    return CkksParameters(
        p["poly_modulus_degree"], tuple(p["coeff_mod_bit_sizes"]), float(p["scale"])
    )


@pytest.fixture(scope="module")
def vector_keys(he_vectors: dict[str, Any]) -> CkksKeys:
    return CkksKeys.load(
        _params(he_vectors),
        base64.b64decode(he_vectors["secret_key"]),
        base64.b64decode(he_vectors["public_key"]),
    )


def test_node_seal_metrics_decrypt_with_its_secret_key(
    he_vectors: dict[str, Any], vector_keys: CkksKeys
) -> None:
    for metric in he_vectors["metrics"]:
        value = vector_keys.decrypt(base64.b64decode(metric["encrypted_value"]))
        assert value == pytest.approx(metric["value"], abs=he_vectors["tolerance"])


def test_node_seal_metrics_sum_as_expected(
    he_vectors: dict[str, Any], vector_keys: CkksKeys
) -> None:
    words = [
        base64.b64decode(m["encrypted_value"])
        for m in he_vectors["metrics"]
        if m["metric_type"] == "word_count"
    ]
    total = vector_keys.decrypt(vector_keys.add(words))
    assert total == pytest.approx(he_vectors["expected"]["word_count"]["sum"], abs=1e-3)


def test_encrypting_with_the_node_seal_public_key_sums_with_its_ciphertexts(
    he_vectors: dict[str, Any],
) -> None:
    public_only = CkksKeys.load(
        _params(he_vectors), public_key=base64.b64decode(he_vectors["public_key"])
    )
    ours = [public_only.encrypt(v) for v in (100.0, 23.5)]
    theirs = [base64.b64decode(he_vectors["metrics"][0]["encrypted_value"])]  # 412
    total = public_only.add(ours + theirs)
    # Only the holder of the node-seal secret key reads it: here, independent test code.
    reader = SealClient(_params(he_vectors), secret_key=base64.b64decode(he_vectors["secret_key"]))
    assert reader.decrypt(total) == pytest.approx(535.5, abs=1e-3)
    with pytest.raises(ValueError, match="secret key"):
        public_only.decrypt(total)


def test_fresh_keys_round_trip_seeded_and_public_key_ciphertexts() -> None:
    keys = CkksKeys.generate(CkksParameters.default())
    seeded, full = keys.encrypt(0.62), keys.encrypt(-0.35, symmetric=False)
    # A seeded (symmetric) ciphertext is about half the size of a public-key one.
    assert len(seeded) < 0.6 * len(full)
    assert keys.decrypt(seeded) == pytest.approx(0.62, abs=1e-6)
    assert keys.decrypt(keys.add([seeded, full])) == pytest.approx(0.27, abs=1e-6)


def test_saved_keys_reload_and_stay_zstd_compressed() -> None:
    keys = CkksKeys.generate(CkksParameters.default())
    reloaded = CkksKeys.load(keys.parameters, keys.secret_key_bytes(), keys.public_key_bytes)
    ciphertext = keys.encrypt(41.0)
    assert ciphertext[5] == 2  # SEAL header byte 5: compression mode 2 = zstd
    assert reloaded.decrypt(ciphertext) == pytest.approx(41.0, abs=1e-6)


async def test_the_server_accepts_and_adds_client_ciphertexts() -> None:
    """What the client uploads passes the server's validation and sums under its code."""
    keys = CkksKeys.generate(CkksParameters.default())
    items = [keys.encrypt(10.0), keys.encrypt(5.5, symmetric=False), keys.encrypt(2.25)]
    await SealCiphertextValidator().check_ciphertexts(keys.parameters, items)
    aggregator = SealAggregator()
    total = await aggregator.add(keys.parameters, items)
    average = await aggregator.multiply_plain(keys.parameters, total, 1 / 3)
    # What the server hands a client: SEAL's bytes, not its storage encoding.
    for_client = await aggregator.for_client([total, average])
    assert keys.decrypt(for_client[0]) == pytest.approx(17.75, abs=1e-4)
    assert keys.decrypt(for_client[1]) == pytest.approx(17.75 / 3, abs=1e-4)


def test_independent_seal_code_reads_client_ciphertexts() -> None:
    keys = CkksKeys.generate(CkksParameters.default())
    reader = SealClient(CkksParameters.default(), secret_key=keys.secret_key_bytes())
    assert reader.decrypt(keys.encrypt(1203.5)) == pytest.approx(1203.5, abs=1e-4)


def test_results_under_other_keys_or_parameters_are_refused(
    he_vectors: dict[str, Any], vector_keys: CkksKeys
) -> None:
    other = base64.b64decode(he_vectors["rejects"]["other_parameters"])
    with pytest.raises(DecryptionError):
        vector_keys.decrypt(other)
    with pytest.raises(DecryptionError):
        vector_keys.decrypt(base64.b64decode(he_vectors["rejects"]["random_bytes"]))


def test_a_header_declaring_a_huge_object_is_refused_before_seal_sees_it(
    vector_keys: CkksKeys,
) -> None:
    data = bytearray(vector_keys.encrypt(1.0))
    data[8:16] = (1 << 40).to_bytes(8, "little")
    with pytest.raises(ValueError, match="impossible size"):
        declared_size(bytes(data), 10 * 1024 * 1024)
    with pytest.raises(DecryptionError):
        vector_keys.decrypt(bytes(data))
