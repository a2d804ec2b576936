"""The zstd frame walk that bounds decompression without decompressing."""

from __future__ import annotations

import struct

import pytest

from reflective_adapters.he.layout import ciphertext_content_bytes
from reflective_adapters.he.zstd_frame import ZstdFrameError, read_frame
from tests.unit.he.zstd_bytes import (
    COMPRESSED,
    MAGIC,
    RAW,
    RESERVED,
    RLE,
    block,
    rle_bomb,
    single_segment,
    windowed_rle_bomb,
)


def error(payload: bytes) -> str:
    with pytest.raises(ZstdFrameError) as caught:
        read_frame(payload)
    return str(caught.value)


def test_node_seal_frames_declare_exactly_a_fresh_ciphertext(ciphertexts: list[bytes]) -> None:
    expected = ciphertext_content_bytes(8192, 3)
    assert expected == 393_313
    for data in ciphertexts:
        frame = read_frame(data[16:])
        assert frame.content_size == expected
        # Compressed blocks only have an upper bound, so the worst case exceeds the truth,
        # but by little.
        assert expected <= frame.worst_case_size <= 2 * expected


def test_public_key_frame_covers_the_whole_chain(public_key: bytes) -> None:
    assert read_frame(public_key[16:]).content_size == ciphertext_content_bytes(8192, 4)


def test_raw_and_rle_blocks_count_exactly() -> None:
    frame = read_frame(single_segment(300, [block(RAW, 100), block(RLE, 200, last=True)]))
    assert (frame.content_size, frame.worst_case_size, frame.blocks) == (300, 300, 2)


def test_a_compressed_block_counts_as_the_block_maximum() -> None:
    frame = read_frame(single_segment(200_000, [block(COMPRESSED, 10, last=True)]))
    assert frame.worst_case_size == 128 * 1024


def test_the_block_maximum_is_the_content_size_when_smaller() -> None:
    frame = read_frame(single_segment(500, [block(COMPRESSED, 10, last=True)]))
    assert frame.worst_case_size == 500


def test_an_rle_bomb_shows_in_the_worst_case() -> None:
    frame = read_frame(rle_bomb(393_313, 1000))
    assert frame.content_size == 393_313
    assert frame.worst_case_size == 1000 * 128 * 1024


@pytest.mark.parametrize("block_type", [RAW, RLE, COMPRESSED])
def test_a_block_larger_than_the_frame_allows(block_type: int) -> None:
    payload = single_segment(100, [block(block_type, 101, last=True)])
    assert error(payload) == "block larger than the frame allows"


def test_multi_segment_frames_are_refused() -> None:
    assert error(windowed_rle_bomb(2)) == "not a single-segment frame"


@pytest.mark.parametrize("flag", [1, 2, 3])
def test_dictionary_frames_are_refused(flag: int) -> None:
    payload = bytearray(single_segment(3, [block(RAW, 3, last=True)]))
    payload[4] |= flag
    assert error(bytes(payload)) == "the frame needs a zstd dictionary"


def test_the_reserved_descriptor_bit_must_be_clear() -> None:
    payload = bytearray(single_segment(3, [block(RAW, 3, last=True)]))
    payload[4] |= 0x08
    assert error(bytes(payload)) == "reserved bit set in the frame header"


def test_reserved_block_type() -> None:
    assert error(single_segment(3, [block(RESERVED, 3, last=True)])) == "reserved block type"


@pytest.mark.parametrize(
    "magic",
    [
        struct.pack("<I", 0x184D2A50),  # a skippable frame
        struct.pack("<I", 0xFD2FB527),  # legacy zstd v0.7
        b"\x00\x00\x00\x00",
    ],
)
def test_anything_but_a_zstd_frame(magic: bytes) -> None:
    payload = magic + single_segment(3, [block(RAW, 3, last=True)])[4:]
    assert error(payload) == "not a zstd frame"


def test_data_after_the_frame() -> None:
    payload = single_segment(3, [block(RAW, 3, last=True)]) + b"\x00"
    assert error(payload) == "data after the zstd frame"


def test_a_second_frame_is_data_after_the_first() -> None:
    one = single_segment(3, [block(RAW, 3, last=True)])
    assert error(one + one) == "data after the zstd frame"


def test_missing_last_block() -> None:
    assert error(single_segment(3, [block(RAW, 3)])) == "truncated block header"


def test_truncated_block_body() -> None:
    assert error(single_segment(10, [block(RAW, 10, last=True)])[:-1]) == "truncated block"


def test_truncated_frame_header() -> None:
    assert error(MAGIC + bytes([0xA0, 0x01])) == "truncated frame header"


def test_too_short() -> None:
    assert error(MAGIC) == "too short for a zstd frame"


def test_a_checksum_is_accepted_and_must_be_complete() -> None:
    payload = single_segment(3, [block(RAW, 3, last=True)], checksum=True)
    assert read_frame(payload).content_size == 3
    assert error(payload[:-1]) == "truncated frame checksum"


@pytest.mark.parametrize(
    ("descriptor", "field", "expected"),
    [
        (0x20, b"\x05", 5),
        (0x60, b"\x00\x01", 256 + 256),  # the 2-byte field is stored minus 256
        (0xA0, struct.pack("<I", 70_000), 70_000),
        (0xE0, struct.pack("<Q", 2**40), 2**40),
    ],
)
def test_content_size_field_widths(descriptor: int, field: bytes, expected: int) -> None:
    payload = MAGIC + bytes([descriptor]) + field + block(RAW, 0, last=True)
    assert read_frame(payload).content_size == expected


def test_works_on_a_memoryview(ciphertexts: list[bytes]) -> None:
    assert read_frame(memoryview(ciphertexts[0])[16:]).content_size == 393_313
