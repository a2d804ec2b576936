from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from reflective_domain.he_params import CkksParameters, HePublicKey


class CiphertextValidator(Protocol):
    """Checks untrusted HE data before anything of it is stored."""

    async def check_public_key(self, key: HePublicKey) -> None:
        """Raise InvalidCiphertext unless ``key`` loads under its parameters."""
        ...

    async def check_ciphertexts(self, parameters: CkksParameters, items: Sequence[bytes]) -> None:
        """Raise InvalidCiphertext(index=i) for the first item that is not a fresh, well-formed
        ciphertext under ``parameters``."""
        ...


class HeAggregator(Protocol):
    """Key-free arithmetic on CKKS ciphertexts."""

    async def add(self, parameters: CkksParameters, items: Sequence[bytes]) -> bytes:
        """The encrypted sum of ``items`` (at least one)."""
        ...

    async def combine(
        self, parameters: CkksParameters, plus: Sequence[bytes], minus: Sequence[bytes]
    ) -> bytes:
        """The encrypted sum of ``plus`` minus the sum of ``minus`` (``plus`` not empty)."""
        ...

    async def multiply_plain(self, parameters: CkksParameters, item: bytes, factor: float) -> bytes:
        """``item`` times a plaintext constant, rescaled."""
        ...

    def serialized_context(self, parameters: CkksParameters) -> bytes:
        """SEAL-native encryption parameters for clients; never any key."""
        ...
