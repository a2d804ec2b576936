"""Refuse SEAL data that would expand beyond what a genuine object of its kind takes.

``content_bound`` is the uncompressed size of the largest object the caller accepts (see
:mod:`reflective_adapters.he.layout`). SEAL 4.1 decompresses into an unbounded buffer before it
checks anything, so each compression mode is bounded here first:

* none: the payload *is* the content;
* zlib: decompressed here with the standard library, with an output limit;
* zstd: the frame structure is walked (:mod:`reflective_adapters.he.zstd_frame`); its declared
  content size must fit, and so must the worst case of its blocks, within a small factor.
"""

from __future__ import annotations

import zlib

from reflective_adapters.he.errors import SealFormatError
from reflective_adapters.he.header import CompressionMode, SealHeader
from reflective_adapters.he.layout import HEADER_BYTES, compressed_bound
from reflective_adapters.he.zstd_frame import ZstdFrameError, read_frame

WORST_CASE_FACTOR = 8
"""How far a zstd frame's block-by-block worst case may exceed ``content_bound``.

Compressed blocks can only be bounded by the 128 KiB block maximum, so honest frames have a
worst case above their real size (1.5x for node-seal's ciphertexts). Eight times a ciphertext
is still only a few megabytes, against the gigabytes a crafted frame could otherwise reach.
"""


def check_expansion(
    data: bytes, header: SealHeader, *, content_bound: int, kind: str, largest: str
) -> None:
    """Raise :class:`SealFormatError` unless ``data`` (whose ``header`` was already checked)
    decompresses to at most ``content_bound`` bytes. ``largest`` names the largest accepted
    object in messages, e.g. "a freshly encrypted ciphertext"."""
    payload = memoryview(data)[HEADER_BYTES : header.size]
    if header.compression is CompressionMode.NONE:
        if len(payload) > content_bound:
            raise _too_big(kind, len(payload), content_bound, largest)
        return
    # First, so that walking or inflating junk costs at most this much.
    if len(payload) > compressed_bound(content_bound):
        raise SealFormatError(
            f"{kind} is {header.size} bytes, more than {largest} can take under these parameters"
        )
    if header.compression is CompressionMode.ZLIB:
        _check_zlib(payload, content_bound, kind, largest)
    else:
        _check_zstd(payload, content_bound, kind, largest)


def _check_zlib(payload: memoryview, content_bound: int, kind: str, largest: str) -> None:
    inflater = zlib.decompressobj()
    try:
        produced = len(inflater.decompress(payload, content_bound + 1))
    except zlib.error:
        raise SealFormatError(f"{kind} has corrupt zlib data") from None
    if produced > content_bound or inflater.unconsumed_tail:
        raise _too_big(kind, None, content_bound, largest)
    if not inflater.eof:
        raise SealFormatError(f"{kind} has incomplete zlib data")
    if inflater.unused_data:
        raise SealFormatError(f"{kind} has data after its zlib stream")


def _check_zstd(payload: memoryview, content_bound: int, kind: str, largest: str) -> None:
    try:
        frame = read_frame(payload)
    except ZstdFrameError as exc:
        raise SealFormatError(f"{kind} has malformed zstd data: {exc}") from None
    if frame.content_size > content_bound:
        raise _too_big(kind, frame.content_size, content_bound, largest)
    if frame.worst_case_size > WORST_CASE_FACTOR * content_bound:
        raise _too_big(kind, None, content_bound, largest)


def _too_big(kind: str, size: int | None, content_bound: int, largest: str) -> SealFormatError:
    expands = f"expands to {size} bytes," if size is not None else "could expand to"
    return SealFormatError(
        f"{kind} {expands} more than the {content_bound} bytes of {largest} under these parameters"
    )
