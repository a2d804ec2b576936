"""SEAL-native serialization, the format every ciphertext and key travels in, and the file
round trip both sides use to reach it. Standard library only: the SEAL objects come from the
caller (TenSEAL's ``sealapi`` on either side), this module never imports SEAL.

SEAL's Python bindings save and load through file paths only, so each call goes through a
private temporary file (``mkstemp``: mode 0600, O_EXCL; works on Linux, macOS and Windows)
deleted straight after. By default it lives in RAM-backed ``/dev/shm`` where there is one
(Linux), so a secret key saved at generation never touches a disk there, and a disk-backed
``/tmp`` would halve the server's validation rate.

Layout of the 16-byte header every serialization starts with (little-endian): magic u16 =
0xA15E, header_size u8 = 16, version_major u8, version_minor u8, compr_mode u8, reserved u16,
size u64 (the whole serialization, header included).
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

SEAL_MAGIC = 0xA15E
HEADER = struct.Struct("<HBBBBHQ")  # magic, header size, major, minor, compression, -, size
SEAL_ERRORS = (RuntimeError, ValueError, OverflowError, IndexError)
"""What pybind11 turns SEAL's ``std::logic_error`` and ``std::invalid_argument`` into."""


@functools.cache
def default_scratch_dir() -> str:
    shm = "/dev/shm"  # noqa: S108 - only ever used through mkstemp (O_EXCL, mode 0600)
    if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return tempfile.gettempdir()


@contextlib.contextmanager
def scratch_file(prefix: str, directory: str | None = None) -> Iterator[str]:
    """The path of a new private file, removed on exit (``directory``: default
    :func:`default_scratch_dir`)."""
    fd, path = tempfile.mkstemp(
        prefix=prefix, suffix=".seal", dir=directory or default_scratch_dir()
    )
    os.close(fd)  # SEAL reopens it by name; Windows would refuse while it is open
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def save(obj: Any, prefix: str, directory: str | None = None) -> bytes:
    """SEAL-native bytes of a SEAL object (or a ``Serializable``), with SEAL's default
    compression (zstd)."""
    with scratch_file(prefix, directory) as path:
        obj.save(path)
        return Path(path).read_bytes()


def load(target: Any, context: Any, data: bytes, prefix: str, directory: str | None = None) -> Any:
    """``target`` loaded from ``data`` by SEAL's validating load against ``context``; SEAL's
    own exceptions (:data:`SEAL_ERRORS`) pass through. Check the header first: SEAL trusts
    its declared size."""
    with scratch_file(prefix, directory) as path:
        Path(path).write_bytes(data)
        target.load(context, path)
    return target
