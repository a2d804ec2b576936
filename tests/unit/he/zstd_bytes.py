"""Test-only: zstd frames assembled by hand (RFC 8878), for the cases no compressor makes."""

from __future__ import annotations

import struct

MAGIC = struct.pack("<I", 0xFD2FB528)
RAW, RLE, COMPRESSED, RESERVED = range(4)


def block(block_type: int, size: int, body: bytes | None = None, *, last: bool = False) -> bytes:
    """A block header plus its body: ``size`` bytes for raw and compressed (filler if no
    ``body``), one byte for RLE."""
    header = (size << 3) | (block_type << 1) | int(last)
    if body is None:
        body = b"\x00" if block_type == RLE else b"\xaa" * size
    return header.to_bytes(3, "little") + body


def single_segment(content_size: int, blocks: list[bytes], *, checksum: bool = False) -> bytes:
    """A single-segment frame with a 4-byte content size (as SEAL writes them)."""
    descriptor = 0b1010_0000 | (0b100 if checksum else 0)
    frame = MAGIC + bytes([descriptor]) + struct.pack("<I", content_size) + b"".join(blocks)
    return frame + (b"\x00" * 4 if checksum else b"")


def rle_bomb(content_size: int, count: int) -> bytes:
    """``count`` RLE blocks of the largest size the frame allows, 4 bytes each."""
    size = min(content_size, 128 * 1024)
    blocks = [block(RLE, size, last=i == count - 1) for i in range(count)]
    return single_segment(content_size, blocks)


def windowed_rle_bomb(count: int) -> bytes:
    """Multi-segment, no content size, a 1 MiB window and ``count`` 128 KiB RLE blocks: SEAL
    4.1 inflates every byte of it (4 KB of input reach ~600 MB of memory)."""
    descriptor, window = 0x00, 10 << 3
    blocks = [block(RLE, 128 * 1024, last=i == count - 1) for i in range(count)]
    return MAGIC + bytes([descriptor, window]) + b"".join(blocks)


def seal_wrap(payload: bytes, mode: int = 2) -> bytes:
    """A SEAL 4.1 header around ``payload``."""
    return struct.pack("<HBBBBHQ", 0xA15E, 16, 4, 1, mode, 0, 16 + len(payload)) + payload
