"""SEAL-native bytes to and from SEAL objects.

SEAL's Python bindings (TenSEAL 0.3.16 bundles SEAL 4.1, like node-seal 6) save and load
through file paths only, so each call uses a private temporary file (``mkstemp``: 0600,
O_EXCL) that is removed straight after. It lives in RAM-backed ``/dev/shm`` where there is one,
so a secret key saved at generation never touches a disk there; elsewhere the system temp
directory is used (the file exists for microseconds, readable by the owner only).
"""

from __future__ import annotations

import contextlib
import functools
import os
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tenseal import sealapi

SEAL_MAGIC = 0xA15E
_HEADER = struct.Struct("<HBBBBHQ")  # magic, header size, major, minor, compression, -, size


@functools.cache
def scratch_dir() -> str:
    shm = "/dev/shm"  # noqa: S108 - only ever used through mkstemp (O_EXCL, mode 0600)
    if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return tempfile.gettempdir()


@contextlib.contextmanager
def _scratch_file() -> Iterator[str]:
    fd, path = tempfile.mkstemp(prefix="reflective-client-", suffix=".seal", dir=scratch_dir())
    os.close(fd)  # SEAL reopens it by name
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def save(obj: Any) -> bytes:
    """SEAL-native bytes (SEAL's default compression: zstd) of a SEAL object, or of a
    ``Serializable`` (a seeded, half-size symmetric ciphertext)."""
    with _scratch_file() as path:
        obj.save(path)
        return Path(path).read_bytes()


def load(target: Any, context: Any, data: bytes, max_size: int) -> Any:
    """``target`` loaded from ``data``; SEAL validates it against ``context``.

    The header's declared size is checked first, so a hostile answer cannot make SEAL
    allocate (or decompress into) more than ``max_size`` bytes.
    """
    declared_size(data, max_size)
    with _scratch_file() as path:
        Path(path).write_bytes(data)
        try:
            target.load(context, path)
        except (RuntimeError, ValueError, OverflowError, IndexError) as exc:
            raise ValueError(f"not a valid SEAL object for these parameters ({exc})") from None
    return target


def declared_size(data: bytes, max_size: int) -> int:
    if len(data) < _HEADER.size:
        raise ValueError("too short for a SEAL object")
    magic, header_size, major, _minor, compression, _, size = _HEADER.unpack_from(data)
    if magic != SEAL_MAGIC or header_size != _HEADER.size:
        raise ValueError("not SEAL-native data")
    if major != 4:
        raise ValueError(f"SEAL {major}.x data; this client reads SEAL 4.x")
    if compression not in (0, 1, 2) or size > max_size or size < len(data):
        raise ValueError("SEAL header declares an impossible size")
    return int(size)


__all__ = ["load", "save", "scratch_dir", "sealapi"]
