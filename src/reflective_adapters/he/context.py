"""Key-free SEAL contexts, one per parameter set, built once per process.

A ``tenseal.context()`` would generate a secret key; the server must never hold one, so the
context is built from SEAL's own ``EncryptionParameters`` and ``SEALContext`` only. A context
validates loaded data and drives the evaluator and encoder; none of that needs a key.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from reflective_adapters.he._sealapi import sealapi
from reflective_adapters.he.layout import ciphertext_content_bytes
from reflective_domain.errors import ValidationFailed
from reflective_domain.he_params import CkksParameters


def encryption_parameters(parameters: CkksParameters) -> Any:
    """SEAL ``EncryptionParameters`` for ``parameters``: what a client rebuilds its context
    from. ``CoeffModulus.Create`` is deterministic, so client and server get the same primes."""
    parms = sealapi.EncryptionParameters(sealapi.SCHEME_TYPE.CKKS)
    parms.set_poly_modulus_degree(parameters.poly_modulus_degree)
    try:
        primes = sealapi.CoeffModulus.Create(
            parameters.poly_modulus_degree, list(parameters.coeff_mod_bit_sizes)
        )
    except (ValueError, RuntimeError) as exc:
        raise ValidationFailed(
            "he_parameters", "SEAL finds no primes for these coefficient modulus sizes"
        ) from exc
    parms.set_coeff_modulus(primes)
    return parms


@dataclass(frozen=True, eq=False)
class CkksContext:
    """A SEAL context for one CKKS parameter set, with the keyless tools that use it."""

    parameters: CkksParameters
    seal: Any
    """The ``sealapi.SEALContext``."""
    evaluator: Any
    encoder: Any

    @property
    def first_parms_id(self) -> list[int]:
        """Where a freshly encrypted ciphertext sits: the top data level."""
        return list(self.seal.first_parms_id())

    @property
    def ciphertext_bound(self) -> int:
        """Uncompressed bytes of a fresh (2-polynomial, top-level) ciphertext, the largest
        ciphertext the server accepts or makes."""
        primes = len(self.seal.first_context_data().parms().coeff_modulus())
        return ciphertext_content_bytes(self.parameters.poly_modulus_degree, primes)

    @property
    def public_key_bound(self) -> int:
        """Uncompressed bytes of a public key: 2 polynomials over the whole modulus chain."""
        primes = len(self.seal.key_context_data().parms().coeff_modulus())
        return ciphertext_content_bytes(self.parameters.poly_modulus_degree, primes)


@functools.lru_cache(maxsize=16)
def context_for(parameters: CkksParameters) -> CkksContext:
    """The cached context for ``parameters``; :class:`ValidationFailed` if SEAL refuses them
    (e.g. more modulus bits than 128-bit security allows at this degree).

    Building one takes from ~10 ms (degree 8192) to ~0.6 s (degree 32768), so call this from
    worker threads, not the event loop.
    """
    seal = sealapi.SEALContext(
        encryption_parameters(parameters), True, sealapi.SEC_LEVEL_TYPE.TC128
    )
    if not seal.parameters_set():
        raise ValidationFailed(
            "he_parameters",
            f"SEAL rejects these CKKS parameters: {seal.parameters_error_message()}",
        )
    return CkksContext(parameters, seal, sealapi.Evaluator(seal), sealapi.CKKSEncoder(seal))
