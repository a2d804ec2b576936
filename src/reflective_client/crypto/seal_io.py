"""SEAL-native bytes to and from SEAL objects on the device, through the private scratch files
of :mod:`reflective_protocol.seal` (RAM-backed ``/dev/shm`` where there is one, so a secret
key saved at generation never touches a disk there)."""

from __future__ import annotations

from typing import Any

from tenseal import sealapi

from reflective_protocol import seal

_PREFIX = "reflective-client-"


def save(obj: Any) -> bytes:
    """SEAL-native bytes (SEAL's default compression: zstd) of a SEAL object, or of a
    ``Serializable`` (a seeded, half-size symmetric ciphertext)."""
    return seal.save(obj, _PREFIX)


def load(target: Any, context: Any, data: bytes, max_size: int) -> Any:
    """``target`` loaded from ``data``; SEAL validates it against ``context``.

    The header's declared size is checked first, so a hostile answer cannot make SEAL
    allocate (or decompress into) more than ``max_size`` bytes.
    """
    declared_size(data, max_size)
    try:
        return seal.load(target, context, data, _PREFIX)
    except seal.SEAL_ERRORS as exc:
        raise ValueError(f"not a valid SEAL object for these parameters ({exc})") from None


def declared_size(data: bytes, max_size: int) -> int:
    if len(data) < seal.HEADER.size:
        raise ValueError("too short for a SEAL object")
    magic, header_size, major, _minor, compression, _, size = seal.HEADER.unpack_from(data)
    if magic != seal.SEAL_MAGIC or header_size != seal.HEADER.size:
        raise ValueError("not SEAL-native data")
    if major != 4:
        raise ValueError(f"SEAL {major}.x data; this client reads SEAL 4.x")
    if compression not in (0, 1, 2) or size > max_size or size < len(data):
        raise ValueError("SEAL header declares an impossible size")
    return int(size)


__all__ = ["load", "save", "sealapi"]
