"""Byte layout of SEAL 4.1 serializations, for size bounds computed before any SEAL call."""

from __future__ import annotations

HEADER_BYTES = 16
"""Every SEAL serialization starts with this fixed-size header (``SEALHeader``)."""

# Ciphertext::save_members writes parms_id (4 x uint64), is_ntt_form (1 byte), then size,
# poly_modulus_degree, coeff_modulus_size, scale and correction_factor (8 bytes each), and
# then its coefficients as a nested, uncompressed DynArray: a SEAL header plus a uint64 count.
CIPHERTEXT_METADATA_BYTES = 32 + 1 + 5 * 8
DYNARRAY_OVERHEAD_BYTES = HEADER_BYTES + 8


def ciphertext_content_bytes(poly_modulus_degree: int, primes: int, polynomials: int = 2) -> int:
    """Uncompressed size, after the outer header, of a ciphertext with ``polynomials``
    polynomials over ``primes`` RNS primes. A SEAL public key serializes as exactly such a
    ciphertext (2 polynomials at the key level)."""
    coefficients = polynomials * poly_modulus_degree * primes
    return CIPHERTEXT_METADATA_BYTES + DYNARRAY_OVERHEAD_BYTES + 8 * coefficients


def compressed_bound(content_bytes: int) -> int:
    """A generous upper bound on zstd or zlib output for ``content_bytes`` of input.

    Both compressors add well under 1% to incompressible data (ZSTD_compressBound is
    n + n/256 + small, zlib's deflateBound n + n/4096 + small); this bound is only there to
    refuse junk that could not be the compression of anything of the expected size.
    """
    return content_bytes + content_bytes // 128 + 1024
