"""Parse and check the 16-byte SEAL serialization header, in pure Python.

SEAL 4.1 trusts this header more than it should: it allocates from the declared size and
decompresses without an output limit. So nothing reaches SEAL unless its header has been
checked here first.

Layout (little-endian): magic u16 = 0xA15E, header_size u8 = 16, version_major u8,
version_minor u8, compr_mode u8, reserved u16, size u64 (the whole serialization, header
included).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from reflective_adapters.he.errors import SealFormatError
from reflective_adapters.he.layout import HEADER_BYTES
from reflective_protocol.seal import HEADER as _HEADER
from reflective_protocol.seal import SEAL_MAGIC

SEAL_VERSION = (4, 1)


class CompressionMode(enum.IntEnum):
    """SEAL's ``compr_mode_type``; SEAL 4.1 as built in TenSEAL supports all three."""

    NONE = 0
    ZLIB = 1
    ZSTD = 2


_MODES = frozenset(int(m) for m in CompressionMode)


@dataclass(frozen=True, slots=True)
class SealHeader:
    version: tuple[int, int]
    compression: CompressionMode
    size: int
    """Total bytes of the serialization, header included."""

    @property
    def payload_size(self) -> int:
        return self.size - HEADER_BYTES


def read_header(data: bytes, *, max_size: int, kind: str = "ciphertext") -> SealHeader:
    """The header of ``data``, or :class:`SealFormatError` unless ``data`` is exactly one
    SEAL 4.1 object of at most ``max_size`` bytes. ``kind`` names the object in messages."""
    if len(data) > max_size:
        raise SealFormatError(f"{kind} is too large: {len(data)} bytes, the limit is {max_size}")
    if len(data) < HEADER_BYTES:
        raise SealFormatError(f"not a SEAL {kind}: {len(data)} bytes is shorter than a SEAL header")
    magic, header_size, major, minor, mode, reserved, size = _HEADER.unpack_from(data)
    if magic != SEAL_MAGIC:
        raise SealFormatError(f"not a SEAL {kind}: the SEAL header is missing")
    if header_size != HEADER_BYTES:
        raise SealFormatError(f"not a SEAL {kind}: the header declares size {header_size}")
    if (major, minor) != SEAL_VERSION:
        raise SealFormatError(
            f"{kind} was serialized by SEAL {major}.{minor}; only SEAL 4.1 is accepted"
        )
    if mode not in _MODES:
        raise SealFormatError(f"{kind} uses unknown compression mode {mode}")
    if reserved != 0:
        raise SealFormatError(f"not a SEAL {kind}: reserved header bytes are set")
    if size > max_size:
        raise SealFormatError(
            f"{kind} is too large: the header declares {size} bytes, the limit is {max_size}"
        )
    if size > len(data):
        raise SealFormatError(f"{kind} is truncated: header declares {size} bytes, got {len(data)}")
    if size < len(data):
        raise SealFormatError(
            f"{kind} has trailing data: header declares {size} bytes, got {len(data)}"
        )
    if size == HEADER_BYTES:
        raise SealFormatError(f"{kind} is empty: the header declares no content")
    return SealHeader((major, minor), CompressionMode(mode), size)
