"""The compact storage encoding of CKKS ciphertexts: each coefficient in as many bits as its
RNS prime has, not in a 64-bit word.

A ciphertext's coefficients are uniformly random below their prime (60 and 40 bits at the lean
parameters), but SEAL keeps each in a 64-bit word, and zstd cannot strip the zero bits that
are scattered through random data: node-seal's 235 KB for a lean ciphertext carry ~205 KB of
information. Stored bit-packed per prime, a ciphertext takes just that. Lossless: decoding
gives back SEAL's own uncompressed serialization of the same ciphertext, byte for byte, which
SEAL loads (and validates) like any other.

Layout::

    magic "RFCK", version u8 = 1,
    SEAL's ciphertext metadata, verbatim (73 bytes: parms_id, is_ntt_form, size,
        poly_modulus_degree, coeff_modulus_size, scale, correction_factor),
    one u8 per prime: the bits of its coefficients,
    the coefficients in SEAL's order (polynomial, prime, coefficient), each prime's run of
    ``poly_modulus_degree`` coefficients packed least significant bit first.

The magic cannot be mistaken for SEAL's (``0xA15E`` first), so rows stored before this encoding
(plain SEAL bytes) are told apart by their first bytes and still load; nothing is migrated.
It is a storage encoding only: clients are handed SEAL's own zstd-compressed serialization
(:func:`for_client`).
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import zstandard

from reflective_adapters.he.errors import SealFormatError
from reflective_adapters.he.header import SEAL_VERSION, CompressionMode, SealHeader
from reflective_adapters.he.layout import CIPHERTEXT_METADATA_BYTES, HEADER_BYTES
from reflective_protocol.seal import SEAL_MAGIC

MAGIC = b"RFCK"
VERSION = 1
ZSTD_LEVEL = 3
"""SEAL's own default (``ZSTD_CLEVEL_DEFAULT``)."""

_PREFIX = struct.Struct("<4sB")
_SEAL_HEADER = struct.Struct("<HBBBBHQ")
_METADATA = struct.Struct("<4QBQQQdQ")
_COUNT = struct.Struct("<Q")
assert _METADATA.size == CIPHERTEXT_METADATA_BYTES

# Bounds of what SEAL 4.1 itself allows, so a corrupt row cannot ask for a huge buffer.
_MAX_DEGREE = 32768
_MAX_PRIMES = 64
_MAX_POLYNOMIALS = 16
_MAX_PRIME_BITS = 61


@dataclass(frozen=True, slots=True)
class SealCiphertextBytes:
    """An uncompressed SEAL ciphertext serialization, split into its parts."""

    content: bytes
    """Everything after SEAL's outer header."""
    metadata: bytes
    parms_id: tuple[int, int, int, int]
    words: np.ndarray[Any, Any]
    """The coefficients, shape (polynomials, primes, degree), as uint64."""


def is_compact(data: bytes | memoryview) -> bool:
    """Whether ``data`` is in the compact storage encoding (else: SEAL's own bytes)."""
    return bytes(data[: len(MAGIC)]) == MAGIC


def split(data: bytes, header: SealHeader, content_bound: int) -> SealCiphertextBytes | None:
    """The parts of a SEAL ciphertext serialization whose ``header`` was checked, or None if
    its content is not the plain layout of a full ciphertext (e.g. a seeded one, whose second
    polynomial is saved as a seed): the caller then re-serializes the loaded object."""
    content = _content(data, header, content_bound)
    if content is None or len(content) < _METADATA.size + HEADER_BYTES + _COUNT.size:
        return None
    p0, p1, p2, p3, _ntt, size, degree, primes, _scale, _correction = _METADATA.unpack_from(content)
    count = size * degree * primes
    offset = _METADATA.size
    inner = _SEAL_HEADER.unpack_from(content, offset)
    major, minor = SEAL_VERSION
    array_bytes = HEADER_BYTES + _COUNT.size + 8 * count
    if inner != (SEAL_MAGIC, HEADER_BYTES, major, minor, 0, 0, array_bytes):
        return None
    offset += HEADER_BYTES
    (declared,) = _COUNT.unpack_from(content, offset)
    offset += _COUNT.size
    if declared != count or len(content) != offset + 8 * count or count == 0:
        return None
    words = np.frombuffer(content, dtype="<u8", count=count, offset=offset)
    return SealCiphertextBytes(
        content,
        bytes(content[: _METADATA.size]),
        (p0, p1, p2, p3),
        words.reshape(size, primes, degree),
    )


def uncompressed(parts: SealCiphertextBytes) -> bytes:
    """SEAL's uncompressed serialization of ``parts``: what SEAL loads without inflating."""
    return _seal_header(HEADER_BYTES + len(parts.content), CompressionMode.NONE) + parts.content


def encode(parts: SealCiphertextBytes, prime_bits: list[int]) -> bytes:
    """The compact encoding of a ciphertext whose level has primes of ``prime_bits`` bits.
    ValueError if a coefficient does not fit its prime's bits (SEAL's load refuses those)."""
    size, primes, _degree = parts.words.shape
    if len(prime_bits) != primes or not all(0 < b <= _MAX_PRIME_BITS for b in prime_bits):
        raise ValueError(f"{primes} primes, but bit sizes {prime_bits}")
    chunks = [_PREFIX.pack(MAGIC, VERSION), parts.metadata, bytes(prime_bits)]
    for polynomial in range(size):
        for prime, bits in enumerate(prime_bits):
            chunks.append(_pack(parts.words[polynomial, prime], bits))
    return b"".join(chunks)


def decode(data: bytes | memoryview) -> bytes:
    """SEAL's uncompressed serialization of the ciphertext ``data`` encodes, or
    :class:`SealFormatError` if ``data`` is not a well-formed compact ciphertext."""
    view = memoryview(data)
    if len(view) < _PREFIX.size + _METADATA.size:
        raise SealFormatError("stored ciphertext is truncated")
    magic, version = _PREFIX.unpack_from(view)
    if magic != MAGIC:
        raise SealFormatError("not a compact ciphertext")
    if version != VERSION:
        raise SealFormatError(f"compact ciphertext version {version} is not supported")
    offset = _PREFIX.size
    metadata = bytes(view[offset : offset + _METADATA.size])
    _p0, _p1, _p2, _p3, _ntt, size, degree, primes, _scale, _correction = _METADATA.unpack(metadata)
    if not (
        0 < size <= _MAX_POLYNOMIALS
        and 0 < primes <= _MAX_PRIMES
        and 0 < degree <= _MAX_DEGREE
        and degree % 8 == 0
    ):
        raise SealFormatError("compact ciphertext has impossible dimensions")
    offset += _METADATA.size
    prime_bits = list(view[offset : offset + primes])
    offset += primes
    if len(prime_bits) != primes or not all(0 < b <= _MAX_PRIME_BITS for b in prime_bits):
        raise SealFormatError("compact ciphertext has invalid prime sizes")
    expected = offset + size * degree * sum(prime_bits) // 8
    if len(view) != expected:
        raise SealFormatError(
            f"compact ciphertext is {len(view)} bytes; its dimensions make {expected}"
        )
    count = size * primes * degree
    words = np.empty((size, primes, degree), dtype="<u8")
    for polynomial in range(size):
        for prime, bits in enumerate(prime_bits):
            length = degree * bits // 8
            words[polynomial, prime] = _unpack(view[offset : offset + length], bits, degree)
            offset += length
    array_bytes = HEADER_BYTES + _COUNT.size + 8 * count
    return b"".join(
        (
            _seal_header(HEADER_BYTES + _METADATA.size + array_bytes, CompressionMode.NONE),
            metadata,
            _seal_header(array_bytes, CompressionMode.NONE),
            _COUNT.pack(count),
            words.tobytes(),
        )
    )


def for_client(data: bytes) -> bytes:
    """What a client loads: stored SEAL bytes as they are, a compact ciphertext as SEAL's own
    zstd-compressed serialization (what SEAL's and node-seal's ``save()`` write by default)."""
    if not is_compact(data):
        return data
    plain = decode(data)
    compressed = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=True).compress(
        memoryview(plain)[HEADER_BYTES:]
    )
    return _seal_header(HEADER_BYTES + len(compressed), CompressionMode.ZSTD) + compressed


def _content(data: bytes, header: SealHeader, content_bound: int) -> bytes | None:
    payload = memoryview(data)[HEADER_BYTES : header.size]
    try:
        if header.compression is CompressionMode.NONE:
            return bytes(payload)
        if header.compression is CompressionMode.ZLIB:
            inflater = zlib.decompressobj()
            content = inflater.decompress(payload, content_bound + 1)
            return content if inflater.eof and len(content) <= content_bound else None
        return zstandard.ZstdDecompressor().decompress(payload, max_output_size=content_bound)
    except (zlib.error, zstandard.ZstdError):
        return None


def _seal_header(size: int, compression: CompressionMode) -> bytes:
    major, minor = SEAL_VERSION
    return _SEAL_HEADER.pack(SEAL_MAGIC, HEADER_BYTES, major, minor, int(compression), 0, size)


def _group(bits: int) -> int:
    """How many ``bits``-bit words make a whole number of bytes."""
    return 8 // math.gcd(bits, 8)


def _pack(words: np.ndarray[Any, Any], bits: int) -> bytes:
    """``words`` (each below 2**bits, a multiple of 8 of them) in ``bits`` bits each.

    Words go in groups that fill whole bytes (8 words of 61 bits, 2 of 60, 1 of 40); each
    group's bits are assembled in 64-bit lanes by a few shifts over all groups at once.
    """
    if bool((words >> np.uint64(bits)).any()):
        raise ValueError(f"a coefficient does not fit in {bits} bits")
    per_group = _group(bits)
    groups = words.reshape(-1, per_group)
    group_bytes = per_group * bits // 8
    lanes = np.zeros((groups.shape[0], -(-group_bytes // 8)), dtype="<u8")
    for k in range(per_group):
        lane, shift = divmod(k * bits, 64)
        lanes[:, lane] |= groups[:, k] << np.uint64(shift)
        if shift + bits > 64:
            lanes[:, lane + 1] |= groups[:, k] >> np.uint64(64 - shift)
    packed: bytes = lanes.view(np.uint8)[:, :group_bytes].tobytes()
    return packed


def _unpack(packed: memoryview, bits: int, count: int) -> np.ndarray[Any, Any]:
    per_group = _group(bits)
    group_bytes = per_group * bits // 8
    lane_count = -(-group_bytes // 8)
    raw = np.zeros((count // per_group, 8 * lane_count), dtype=np.uint8)
    raw[:, :group_bytes] = np.frombuffer(packed, dtype=np.uint8).reshape(-1, group_bytes)
    lanes = raw.view("<u8")
    mask = np.uint64((1 << bits) - 1)
    words = np.empty((count // per_group, per_group), dtype="<u8")
    for k in range(per_group):
        lane, shift = divmod(k * bits, 64)
        column = lanes[:, lane] >> np.uint64(shift)
        if shift + bits > 64:
            column |= lanes[:, lane + 1] << np.uint64(64 - shift)
        words[:, k] = column & mask
    return words.reshape(count)
