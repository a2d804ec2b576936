"""Walk a zstd frame's headers, without decompressing, to bound what it can expand to.

SEAL 4.1 inflates zstd data into a buffer that grows without limit, and only then checks what
came out: a few kilobytes of crafted blocks become hundreds of megabytes. The ``zstandard``
module is not a dependency, so instead of decompressing with a limit this module reads the
frame structure (RFC 8878, section 3.1.1) and the caller refuses anything that could expand
beyond a fresh ciphertext's size:

* the frame must be single-segment, which makes its content size mandatory and its window
  exactly that size; libzstd then stops at the first block that would exceed it (SEAL,
  node-seal and TenSEAL always write such frames, compressing a whole object at once);
* every block's worst-case output (exact for raw and RLE blocks, at most the block maximum
  for compressed ones) is summed, a bound that holds even if a zstd build did not enforce the
  declared content size as it decodes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

ZSTD_MAGIC = 0xFD2FB528
BLOCK_SIZE_MAX = 128 * 1024
_RAW, _RLE, _COMPRESSED, _RESERVED = range(4)


class ZstdFrameError(ValueError):
    """The bytes are not one well-formed zstd frame of the kind SEAL writes."""


@dataclass(frozen=True, slots=True)
class ZstdFrame:
    content_size: int
    """The decompressed size the frame declares."""
    worst_case_size: int
    """The most its blocks can produce, whatever their compressed contents."""
    blocks: int


def read_frame(payload: bytes | memoryview) -> ZstdFrame:
    """Check that ``payload`` is exactly one single-segment zstd frame and bound its output."""
    if len(payload) < 6:
        raise ZstdFrameError("too short for a zstd frame")
    (magic,) = struct.unpack_from("<I", payload)
    if magic != ZSTD_MAGIC:
        raise ZstdFrameError("not a zstd frame")
    descriptor = payload[4]
    fcs_flag = descriptor >> 6
    single_segment = bool(descriptor & 0x20)
    if descriptor & 0x08:
        raise ZstdFrameError("reserved bit set in the frame header")
    if descriptor & 0x03:
        raise ZstdFrameError("the frame needs a zstd dictionary")
    if not single_segment:
        # A multi-segment frame may omit its content size and declare a window of up to
        # gigabytes; SEAL never writes one.
        raise ZstdFrameError("not a single-segment frame")
    has_checksum = bool(descriptor & 0x04)
    fcs_bytes = (1, 2, 4, 8)[fcs_flag]
    pos = 5
    if len(payload) < pos + fcs_bytes:
        raise ZstdFrameError("truncated frame header")
    content_size = int.from_bytes(payload[pos : pos + fcs_bytes], "little")
    if fcs_bytes == 2:
        content_size += 256  # the 2-byte field is stored minus 256
    pos += fcs_bytes
    # Single-segment: the window is the content size, and no block may exceed either.
    block_max = min(BLOCK_SIZE_MAX, content_size)
    worst_case, blocks = _walk_blocks(payload, pos, block_max, has_checksum)
    return ZstdFrame(content_size, worst_case, blocks)


def _walk_blocks(
    payload: bytes | memoryview, pos: int, block_max: int, has_checksum: bool
) -> tuple[int, int]:
    worst_case = 0
    blocks = 0
    last = False
    while not last:
        if len(payload) < pos + 3:
            raise ZstdFrameError("truncated block header")
        header = int.from_bytes(payload[pos : pos + 3], "little")
        pos += 3
        last = bool(header & 1)
        block_type = (header >> 1) & 3
        block_size = header >> 3
        if block_type == _RESERVED:
            raise ZstdFrameError("reserved block type")
        if block_size > block_max:
            raise ZstdFrameError("block larger than the frame allows")
        if block_type == _RLE:
            pos += 1  # one byte, repeated block_size times
            worst_case += block_size
        elif block_type == _RAW:
            pos += block_size
            worst_case += block_size
        else:
            pos += block_size
            worst_case += block_max
        if pos > len(payload):
            raise ZstdFrameError("truncated block")
        blocks += 1
    if has_checksum:
        pos += 4
    if pos != len(payload):
        raise ZstdFrameError(
            "truncated frame checksum" if pos > len(payload) else "data after the zstd frame"
        )
    return worst_case, blocks
