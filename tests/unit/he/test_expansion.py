"""Decompression bounds, per compression mode, before SEAL inflates anything."""

from __future__ import annotations

import zlib

import pytest

from reflective_adapters.he.errors import SealFormatError
from reflective_adapters.he.expansion import WORST_CASE_FACTOR, check_expansion
from reflective_adapters.he.header import read_header
from reflective_adapters.he.layout import ciphertext_content_bytes, compressed_bound
from tests.unit.he.zstd_bytes import COMPRESSED, block, rle_bomb, seal_wrap, single_segment

BOUND = ciphertext_content_bytes(8192, 3)
FRESH = "a freshly encrypted ciphertext"


def check(data: bytes, bound: int = BOUND) -> None:
    header = read_header(data, max_size=8 * 1024 * 1024)
    check_expansion(data, header, content_bound=bound, kind="ciphertext", largest=FRESH)


def reason(data: bytes, bound: int = BOUND) -> str:
    with pytest.raises(SealFormatError) as caught:
        check(data, bound)
    return caught.value.reason


def test_layout_matches_real_serializations(ciphertexts: list[bytes], public_key: bytes) -> None:
    # 73 bytes of metadata, 24 of DynArray framing, then 2 x N x k 64-bit coefficients.
    assert ciphertext_content_bytes(8192, 3) == 97 + 2 * 8192 * 3 * 8
    for data in [*ciphertexts, public_key]:
        check(data, ciphertext_content_bytes(8192, 4))


def test_genuine_ciphertexts_pass(ciphertexts: list[bytes]) -> None:
    for data in ciphertexts:
        check(data)


def test_uncompressed_content_at_the_bound_passes() -> None:
    check(seal_wrap(b"\x00" * BOUND, mode=0))


def test_uncompressed_content_over_the_bound() -> None:
    assert reason(seal_wrap(b"\x00" * (BOUND + 1), mode=0)) == (
        f"ciphertext expands to {BOUND + 1} bytes, more than the {BOUND} bytes of a freshly "
        "encrypted ciphertext under these parameters"
    )


def test_zlib_within_the_bound_passes() -> None:
    check(seal_wrap(zlib.compress(b"\x00" * BOUND), mode=1))


def test_zlib_bomb_is_stopped_at_the_bound() -> None:
    bomb = zlib.compress(b"\x00" * (64 * 1024 * 1024), 9)  # 64 MiB in ~64 KB
    assert len(bomb) < 100_000
    assert "could expand to more than" in reason(seal_wrap(bomb, mode=1))


def test_zlib_one_byte_over_the_bound() -> None:
    assert "could expand to more than" in reason(
        seal_wrap(zlib.compress(b"\x00" * (BOUND + 1)), mode=1)
    )


def test_corrupt_zlib() -> None:
    assert reason(seal_wrap(b"\x78\x9c" + b"\xff" * 40, mode=1)) == (
        "ciphertext has corrupt zlib data"
    )


def test_incomplete_zlib() -> None:
    stream = zlib.compress(bytes(range(256)) * 10)
    assert reason(seal_wrap(stream[:-8], mode=1)) == "ciphertext has incomplete zlib data"


def test_data_after_the_zlib_stream() -> None:
    stream = zlib.compress(b"hello") + b"more"
    assert reason(seal_wrap(stream, mode=1)) == "ciphertext has data after its zlib stream"


def test_zstd_declaring_more_than_the_bound() -> None:
    frame = single_segment(BOUND + 1, [block(COMPRESSED, 10, last=True)])
    assert reason(seal_wrap(frame)) == (
        f"ciphertext expands to {BOUND + 1} bytes, more than the {BOUND} bytes of a freshly "
        "encrypted ciphertext under these parameters"
    )


def test_zstd_rle_bomb_within_a_small_declared_size() -> None:
    # 4 KB that would produce 128 MB if a decoder ignored the declared content size.
    bomb = rle_bomb(BOUND, 1000)
    assert len(bomb) < 5000
    assert "could expand to more than" in reason(seal_wrap(bomb))


def test_zstd_worst_case_just_within_the_factor() -> None:
    count = WORST_CASE_FACTOR * BOUND // (128 * 1024)
    blocks = [block(COMPRESSED, 1, last=i == count - 1) for i in range(count)]
    check(seal_wrap(single_segment(BOUND, blocks)))
    blocks = [block(COMPRESSED, 1, last=i == count) for i in range(count + 1)]
    assert "could expand to more than" in reason(seal_wrap(single_segment(BOUND, blocks)))


def test_malformed_zstd_names_the_problem() -> None:
    assert reason(seal_wrap(b"\x28\xb5\x2f\xfd\x00\x50" + b"\x01\x00\x00")) == (
        "ciphertext has malformed zstd data: not a single-segment frame"
    )


def test_compressed_data_bigger_than_any_compression_of_a_ciphertext() -> None:
    payload = b"\x00" * (compressed_bound(BOUND) + 1)
    data = seal_wrap(payload)
    assert reason(data) == (
        f"ciphertext is {len(data)} bytes, more than a freshly encrypted ciphertext can take "
        "under these parameters"
    )
