"""SealCiphertextValidator against the node-seal vectors and real SEAL, no mocks."""

from __future__ import annotations

import asyncio
import base64
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

from reflective_adapters.he import SealCiphertextValidator, SealCodec
from reflective_domain.errors import InvalidCiphertext, ValidationFailed
from reflective_domain.he_params import CkksParameters, HePublicKey
from tests.unit.he.client_side import SealClient, serialize_by_hand, tenseal_encrypt
from tests.unit.he.zstd_bytes import seal_wrap, windowed_rle_bomb

OTHER = CkksParameters(4096, (40, 20, 40), float(2**20))


async def refusal(
    validator: SealCiphertextValidator, parameters: CkksParameters, items: list[bytes]
) -> InvalidCiphertext:
    with pytest.raises(InvalidCiphertext) as caught:
        await validator.check_ciphertexts(parameters, items)
    return caught.value


def assert_quotes_no_data(message: str, data: bytes) -> None:
    for rendering in (base64.b64encode(data[:24]).decode(), data[:16].hex(), repr(data[:16])):
        assert rendering not in message


# (a) every vector ciphertext passes


async def test_every_vector_ciphertext_passes(
    validator: SealCiphertextValidator, parameters: CkksParameters, ciphertexts: list[bytes]
) -> None:
    await validator.check_ciphertexts(parameters, ciphertexts)


async def test_an_empty_batch_passes(
    validator: SealCiphertextValidator, parameters: CkksParameters
) -> None:
    await validator.check_ciphertexts(parameters, [])


# (c) each reject, at index 2 of an otherwise valid batch


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "other_parameters",
            "ciphertext is not valid under these CKKS parameters: it was made under other "
            "parameters, or is corrupted",
        ),
        ("truncated", "ciphertext is truncated: header declares 331616 bytes, got 1500"),
        ("random_bytes", "not a SEAL ciphertext: the SEAL header is missing"),
    ],
)
async def test_each_reject_is_refused_with_its_index(
    validator: SealCiphertextValidator,
    parameters: CkksParameters,
    ciphertexts: list[bytes],
    vectors: dict[str, Any],
    name: str,
    message: str,
) -> None:
    bad = base64.b64decode(vectors["rejects"][name])
    error = await refusal(validator, parameters, [*ciphertexts[:2], bad, *ciphertexts[2:]])
    assert error.index == 2
    assert error.message == message
    assert_quotes_no_data(error.message, bad)


async def test_undecodable_base64_is_the_http_layers_job_but_raw_text_is_still_refused(
    validator: SealCiphertextValidator,
    parameters: CkksParameters,
    ciphertexts: list[bytes],
    vectors: dict[str, Any],
) -> None:
    # The HTTP layer rejects "not_base64" before it gets here; if its text arrived as bytes
    # anyway, it is not a SEAL object.
    text = vectors["rejects"]["not_base64"].encode()
    error = await refusal(validator, parameters, [*ciphertexts[:2], text])
    assert error.index == 2
    assert error.message == "not a SEAL ciphertext: 14 bytes is shorter than a SEAL header"


async def test_only_the_first_bad_item_is_reported(
    validator: SealCiphertextValidator,
    parameters: CkksParameters,
    ciphertexts: list[bytes],
    vectors: dict[str, Any],
) -> None:
    bad = base64.b64decode(vectors["rejects"]["random_bytes"])
    error = await refusal(validator, parameters, [ciphertexts[0], bad, bad])
    assert error.index == 1


# (e) public keys


async def test_the_vector_public_key_validates(
    validator: SealCiphertextValidator, parameters: CkksParameters, public_key: bytes
) -> None:
    await validator.check_public_key(HePublicKey(public_key, parameters))


async def test_a_public_key_made_under_other_parameters_is_refused(
    validator: SealCiphertextValidator, parameters: CkksParameters
) -> None:
    other_key = SealClient(OTHER).public_key_bytes
    with pytest.raises(InvalidCiphertext) as caught:
        await validator.check_public_key(HePublicKey(other_key, parameters))
    assert caught.value.index is None
    assert "public key is not valid under these CKKS parameters" in caught.value.message


async def test_the_vector_public_key_under_other_parameters_is_refused(
    validator: SealCiphertextValidator, public_key: bytes
) -> None:
    with pytest.raises(InvalidCiphertext) as caught:
        await validator.check_public_key(HePublicKey(public_key, OTHER))
    # Its size alone gives it away: it is far larger than any key at degree 4096.
    assert caught.value.message == (
        f"public key is {len(public_key)} bytes, more than a public key can take under these "
        "parameters"
    )


async def test_a_ciphertext_is_not_a_public_key(
    validator: SealCiphertextValidator, parameters: CkksParameters, ciphertexts: list[bytes]
) -> None:
    with pytest.raises(InvalidCiphertext, match="public key is not valid"):
        await validator.check_public_key(HePublicKey(ciphertexts[0], parameters))


async def test_a_public_key_is_not_a_ciphertext(
    validator: SealCiphertextValidator, parameters: CkksParameters, public_key: bytes
) -> None:
    error = await refusal(validator, parameters, [public_key])
    assert error.message.startswith(f"ciphertext is {len(public_key)} bytes, more than")


async def test_public_key_junk_is_refused(
    validator: SealCiphertextValidator, parameters: CkksParameters, vectors: dict[str, Any]
) -> None:
    junk = base64.b64decode(vectors["rejects"]["random_bytes"])
    with pytest.raises(InvalidCiphertext, match="not a SEAL public key"):
        await validator.check_public_key(HePublicKey(junk, parameters))


async def test_a_ciphertext_made_under_other_parameters_is_refused(
    validator: SealCiphertextValidator, parameters: CkksParameters
) -> None:
    other = SealClient(OTHER).encrypt(1.0)
    error = await refusal(validator, parameters, [other])
    assert "made under other parameters" in error.message


# (f) TenSEAL clients are clients too


async def test_a_tenseal_client_ciphertext_validates(
    validator: SealCiphertextValidator, parameters: CkksParameters
) -> None:
    ciphertexts, _ = tenseal_encrypt(parameters, 42.0, 0.5)
    await validator.check_ciphertexts(parameters, ciphertexts)


# (h) ciphertexts that are not fresh encryptions


async def test_a_mod_switched_ciphertext_is_refused(
    validator: SealCiphertextValidator, parameters: CkksParameters, client: SealClient
) -> None:
    error = await refusal(validator, parameters, [client.encrypt(1.0), client.mod_switched(1.0)])
    assert error.index == 1
    assert "below the top level of the modulus chain" in error.message


async def test_a_rescaled_ciphertext_is_refused(
    validator: SealCiphertextValidator, parameters: CkksParameters, client: SealClient
) -> None:
    error = await refusal(validator, parameters, [client.rescaled(1.0)])
    assert "below the top level of the modulus chain" in error.message


async def test_a_three_polynomial_ciphertext_is_refused_by_its_size(
    validator: SealCiphertextValidator, parameters: CkksParameters, client: SealClient
) -> None:
    squared = client.squared(3.0)
    error = await refusal(validator, parameters, [squared])
    assert error.message == (
        f"ciphertext is {len(squared)} bytes, more than a freshly encrypted ciphertext can "
        "take under these parameters"
    )


async def test_a_three_polynomial_ciphertext_of_a_fresh_ones_size_is_refused(
    validator: SealCiphertextValidator, parameters: CkksParameters, client: SealClient
) -> None:
    # 3 polynomials over 2 primes take exactly as many bytes as 2 over 3: SEAL loads it, and
    # only the polynomial count tells.
    squared = client.squared(3.0, levels_down=1)
    error = await refusal(validator, parameters, [squared])
    assert error.message == "ciphertext has 3 polynomials; a freshly encrypted ciphertext has 2"


async def test_a_ciphertext_at_another_scale_is_refused(
    validator: SealCiphertextValidator, parameters: CkksParameters, client: SealClient
) -> None:
    error = await refusal(validator, parameters, [client.encrypt(1.0, scale=2.0**30)])
    assert error.message == "ciphertext is at scale 2^30; these parameters use 2^40"


async def test_a_transparent_ciphertext_is_refused(
    validator: SealCiphertextValidator, parameters: CkksParameters, client: SealClient
) -> None:
    transparent = serialize_by_hand(client.encrypt_object(5.0), zero_c1=True)
    error = await refusal(validator, parameters, [transparent])
    assert error.message == "ciphertext is transparent: it does not hide its value"


# The other compression modes SEAL 4.1 reads


@pytest.mark.parametrize("compression", [0, 1])
async def test_uncompressed_and_zlib_ciphertexts_validate_and_decrypt(
    validator: SealCiphertextValidator,
    parameters: CkksParameters,
    client: SealClient,
    compression: int,
) -> None:
    data = serialize_by_hand(client.encrypt_object(7.25), compression=compression)
    assert data[5] == compression  # the header's compr_mode byte
    await validator.check_ciphertexts(parameters, [data])
    assert client.decrypt(data) == pytest.approx(7.25, abs=1e-6)


# Resource safety


async def test_a_decompression_bomb_never_reaches_seal(
    validator: SealCiphertextValidator, parameters: CkksParameters
) -> None:
    # SEAL 4.1 alone inflates this 4 KB into ~600 MB before failing.
    bomb = seal_wrap(windowed_rle_bomb(1000))
    error = await refusal(validator, parameters, [bomb])
    # Refused by our own frame check, so SEAL never inflated it.
    assert error.message == "ciphertext has malformed zstd data: not a single-segment frame"


async def test_the_size_cap_is_configurable(
    parameters: CkksParameters, ciphertexts: list[bytes]
) -> None:
    validator = SealCiphertextValidator(SealCodec(max_ciphertext_bytes=100_000))
    error = await refusal(validator, parameters, ciphertexts[:1])
    assert (
        error.message
        == f"ciphertext is too large: {len(ciphertexts[0])} bytes, the limit is 100000"
    )


async def test_unusable_parameters_are_a_validation_failure(
    validator: SealCiphertextValidator, ciphertexts: list[bytes]
) -> None:
    # Allowed by the domain's shape rules, but over 128-bit security at degree 4096.
    insecure = CkksParameters(4096, (60, 40, 40, 60), float(2**40))
    with pytest.raises(ValidationFailed, match=r"HomomorphicEncryption\.org"):
        await validator.check_ciphertexts(insecure, ciphertexts[:1])


async def test_validation_leaves_the_event_loop_responsive(
    validator: SealCiphertextValidator, parameters: CkksParameters, ciphertexts: list[bytes]
) -> None:
    items = ciphertexts * 40  # ~240 loads, a few hundred milliseconds of SEAL work
    await validator.check_ciphertexts(parameters, ciphertexts)  # warm the context cache
    gaps: list[float] = []
    finished = asyncio.Event()

    async def tick() -> None:
        last = time.perf_counter()
        while not finished.is_set():
            await asyncio.sleep(0.002)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    started = time.perf_counter()
    await validator.check_ciphertexts(parameters, items)
    elapsed = time.perf_counter() - started
    finished.set()
    await ticker
    # Relative to the work itself, not to a clock: had the validation run on the loop, one
    # gap would span all of it.
    assert len(gaps) >= 2
    assert max(gaps) < elapsed / 2


async def test_a_process_pool_works_and_keeps_the_index(
    parameters: CkksParameters, ciphertexts: list[bytes], vectors: dict[str, Any]
) -> None:
    bad = base64.b64decode(vectors["rejects"]["truncated"])
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        validator = SealCiphertextValidator(executor=pool)
        await validator.check_ciphertexts(parameters, ciphertexts[:2])
        error = await refusal(validator, parameters, [ciphertexts[0], bad])
    assert error.index == 1
    assert error.message.startswith("ciphertext is truncated")
