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

    async def admit_ciphertexts(
        self, parameters: CkksParameters, items: Sequence[bytes]
    ) -> list[bytes]:
        """Check ``items`` like :meth:`check_ciphertexts` and return each in the encoding the
        server stores (which may differ from what clients send; see :class:`ClientCiphertexts`)."""
        ...


class ClientCiphertexts(Protocol):
    """Turns stored ciphertexts back into what clients load."""

    async def for_client(self, items: Sequence[bytes]) -> list[bytes]:
        """Each stored (or computed) ciphertext of ``items`` in the form clients load."""
        ...


class HeAggregator(ClientCiphertexts, Protocol):
    """Key-free arithmetic on CKKS ciphertexts. Results are in the stored encoding: a rollup
    is saved as it is; what goes to a client passes through :meth:`for_client` first."""

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
