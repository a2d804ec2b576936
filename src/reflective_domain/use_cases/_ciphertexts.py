"""What leaves the server as a ciphertext: stored rows and sums in the server's own encoding,
turned back into the form clients load."""

from __future__ import annotations

import dataclasses
from typing import Protocol, TypeVar

from reflective_domain.ports.he import ClientCiphertexts


class _HoldsCiphertext(Protocol):
    """A frozen dataclass with a ``ciphertext`` field."""

    @property
    def ciphertext(self) -> bytes: ...


T = TypeVar("T", bound=_HoldsCiphertext)


async def for_clients(ciphertexts: ClientCiphertexts | None, items: list[T]) -> list[T]:
    """``items`` (metrics, packed years) with their ciphertexts as clients load them."""
    if ciphertexts is None or not items:
        return items
    loadable = await ciphertexts.for_client([item.ciphertext for item in items])
    return [
        dataclasses.replace(item, ciphertext=c)  # type: ignore[type-var]
        for item, c in zip(items, loadable, strict=True)
    ]
