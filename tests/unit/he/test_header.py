"""The 16-byte SEAL header, checked byte by byte before SEAL sees anything."""

from __future__ import annotations

import struct

import pytest

from reflective_adapters.he.errors import SealFormatError
from reflective_adapters.he.header import CompressionMode, read_header

LIMIT = 1024


def seal_bytes(
    *,
    magic: int = 0xA15E,
    header_size: int = 16,
    major: int = 4,
    minor: int = 1,
    mode: int = 2,
    reserved: int = 0,
    size: int | None = None,
    payload: bytes = b"\x01" * 10,
) -> bytes:
    declared = 16 + len(payload) if size is None else size
    head = struct.pack("<HBBBBHQ", magic, header_size, major, minor, mode, reserved, declared)
    return head + payload


def reason(data: bytes, *, max_size: int = LIMIT, kind: str = "ciphertext") -> str:
    with pytest.raises(SealFormatError) as caught:
        read_header(data, max_size=max_size, kind=kind)
    return caught.value.reason


def test_the_layout_is_little_endian_as_seal_writes_it() -> None:
    data = seal_bytes()
    assert data[:8] == bytes([0x5E, 0xA1, 0x10, 0x04, 0x01, 0x02, 0x00, 0x00])
    assert data[8:16] == (26).to_bytes(8, "little")


@pytest.mark.parametrize("mode", list(CompressionMode))
def test_a_well_formed_header_is_read(mode: CompressionMode) -> None:
    header = read_header(seal_bytes(mode=mode), max_size=LIMIT)
    assert header.version == (4, 1)
    assert header.compression is mode
    assert header.size == 26
    assert header.payload_size == 10


def test_every_vector_ciphertext_has_a_seal_4_1_zstd_header(ciphertexts: list[bytes]) -> None:
    for data in ciphertexts:
        header = read_header(data, max_size=2 * 1024 * 1024)
        assert (header.version, header.compression, header.size) == (
            (4, 1),
            CompressionMode.ZSTD,
            len(data),
        )


@pytest.mark.parametrize("magic", [0x5EA1, 0x0000, 0xA15F, 0xFFFF])
def test_wrong_magic(magic: int) -> None:
    assert reason(seal_bytes(magic=magic)) == "not a SEAL ciphertext: the SEAL header is missing"


def test_a_single_flipped_magic_byte_is_enough() -> None:
    data = bytearray(seal_bytes())
    data[1] ^= 0x01
    assert "not a SEAL ciphertext" in reason(bytes(data))


@pytest.mark.parametrize("header_size", [0, 15, 17, 32])
def test_wrong_header_size(header_size: int) -> None:
    assert "not a SEAL ciphertext" in reason(seal_bytes(header_size=header_size))


@pytest.mark.parametrize(("major", "minor"), [(3, 6), (3, 7), (4, 0), (4, 2), (5, 1), (0, 0)])
def test_wrong_version(major: int, minor: int) -> None:
    assert reason(seal_bytes(major=major, minor=minor)) == (
        f"ciphertext was serialized by SEAL {major}.{minor}; only SEAL 4.1 is accepted"
    )


@pytest.mark.parametrize("mode", [3, 4, 0x80, 0xFF])
def test_unknown_compression_mode(mode: int) -> None:
    assert reason(seal_bytes(mode=mode)) == f"ciphertext uses unknown compression mode {mode}"


@pytest.mark.parametrize("reserved", [1, 0x100, 0xFFFF])
def test_reserved_bytes_must_be_zero(reserved: int) -> None:
    assert "reserved header bytes are set" in reason(seal_bytes(reserved=reserved))


def test_declared_size_larger_than_given_is_truncation() -> None:
    assert (
        reason(seal_bytes(size=27)) == "ciphertext is truncated: header declares 27 bytes, got 26"
    )


def test_declared_size_smaller_than_given_is_trailing_data() -> None:
    assert reason(seal_bytes(size=25)) == (
        "ciphertext has trailing data: header declares 25 bytes, got 26"
    )


@pytest.mark.parametrize("size", [LIMIT + 1, 2**32, 2**63, 2**64 - 1])
def test_huge_declared_size_is_refused_as_too_large(size: int) -> None:
    assert reason(seal_bytes(size=size)) == (
        f"ciphertext is too large: the header declares {size} bytes, the limit is {LIMIT}"
    )


def test_data_over_the_limit_is_refused_before_parsing() -> None:
    data = b"\x00" * (LIMIT + 1)  # not even a header: the size alone decides
    assert reason(data) == f"ciphertext is too large: {LIMIT + 1} bytes, the limit is {LIMIT}"


def test_exactly_at_the_limit_is_fine() -> None:
    data = seal_bytes(payload=b"\x01" * (LIMIT - 16))
    assert read_header(data, max_size=LIMIT).size == LIMIT


@pytest.mark.parametrize("length", [0, 1, 8, 15])
def test_shorter_than_a_header(length: int) -> None:
    assert reason(seal_bytes()[:length]) == (
        f"not a SEAL ciphertext: {length} bytes is shorter than a SEAL header"
    )


def test_a_header_with_no_content() -> None:
    assert "is empty" in reason(seal_bytes(payload=b""))


def test_messages_name_the_kind_of_object() -> None:
    assert reason(seal_bytes(magic=0), kind="public key") == (
        "not a SEAL public key: the SEAL header is missing"
    )


def test_the_header_is_checked_in_order_magic_first() -> None:
    # Everything is wrong: the first check (magic) decides the message.
    data = seal_bytes(magic=0, header_size=0, major=9, mode=9, reserved=9, size=5)
    assert "SEAL header is missing" in reason(data)
