"""Homomorphic-encryption adapter: CKKS ciphertexts from the clients, on SEAL 4.1 via TenSEAL.

The server holds no key. It checks that uploaded ciphertexts are genuine fresh encryptions
under the user's parameters (:class:`SealCiphertextValidator`), adds them and scales them by
plaintext constants (:class:`SealAggregator`), and tells clients which parameters to use.
Ciphertexts are stored in a compact, lossless encoding (:mod:`~reflective_adapters.he.storage`)
and handed back to clients as SEAL's own serialization.
"""

from reflective_adapters.he.aggregator import SealAggregator
from reflective_adapters.he.codec import SealCodec
from reflective_adapters.he.context import CkksContext, context_for
from reflective_adapters.he.errors import SealFormatError
from reflective_adapters.he.validator import SealCiphertextValidator

__all__ = [
    "CkksContext",
    "SealAggregator",
    "SealCiphertextValidator",
    "SealCodec",
    "SealFormatError",
    "context_for",
]
