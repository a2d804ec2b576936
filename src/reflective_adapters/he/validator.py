"""Check untrusted HE public keys and ciphertexts before anything of them is stored."""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

from reflective_adapters.he import storage
from reflective_adapters.he.codec import SealCodec
from reflective_adapters.he.context import CkksContext, context_for
from reflective_adapters.he.errors import SealFormatError
from reflective_adapters.he.offload import Offloader
from reflective_domain.errors import InvalidCiphertext
from reflective_domain.he_params import CkksParameters, HePublicKey

DEFAULT_SCALE_TOLERANCE = 1e-9


class SealCiphertextValidator:
    """:class:`~reflective_domain.ports.he.CiphertextValidator` on SEAL 4.1 via TenSEAL.

    A ciphertext passes if its header and compressed size are sane, SEAL loads it under the
    user's parameters, and it is what a client's ``encrypt`` makes: 2 polynomials, at the top
    level of the modulus chain, at the parameters' scale, in NTT form, not transparent. Sums
    and averages are only meaningful over such ciphertexts.
    """

    def __init__(
        self,
        codec: SealCodec | None = None,
        *,
        executor: Executor | None = None,
        max_concurrency: int = 4,
        scale_tolerance: float = DEFAULT_SCALE_TOLERANCE,
    ) -> None:
        self._codec = codec or SealCodec()
        self._offload = Offloader(executor, max_concurrency)
        self._scale_tolerance = scale_tolerance

    async def check_public_key(self, key: HePublicKey) -> None:
        await self._offload.run(check_public_key, key, self._codec)

    async def check_ciphertexts(self, parameters: CkksParameters, items: Sequence[bytes]) -> None:
        if items:
            await self._offload.run(
                check_ciphertexts, parameters, list(items), self._codec, self._scale_tolerance
            )

    async def admit_ciphertexts(
        self, parameters: CkksParameters, items: Sequence[bytes]
    ) -> list[bytes]:
        """Checked like :meth:`check_ciphertexts`, returned in the compact storage encoding."""
        if not items:
            return []
        return await self._offload.run(
            admit_ciphertexts, parameters, list(items), self._codec, self._scale_tolerance
        )


# The synchronous work: module-level functions with picklable arguments, so any executor,
# threads or processes, can run them.


def check_public_key(key: HePublicKey, codec: SealCodec) -> None:
    """Raise :class:`InvalidCiphertext` unless ``key`` loads under its parameters."""
    context = context_for(key.parameters)
    try:
        codec.load_public_key(context, key.data)
    except SealFormatError as exc:
        raise InvalidCiphertext(exc.reason) from exc


def check_ciphertexts(
    parameters: CkksParameters,
    items: Sequence[bytes],
    codec: SealCodec,
    scale_tolerance: float = DEFAULT_SCALE_TOLERANCE,
) -> None:
    """Raise :class:`InvalidCiphertext` with the index of the first item that is not a fresh
    ciphertext under ``parameters``. Items are loaded one at a time, so memory stays flat."""
    context = context_for(parameters)
    for index, item in enumerate(items):
        try:
            _load_fresh(context, item, codec, scale_tolerance)
        except SealFormatError as exc:
            raise InvalidCiphertext(exc.reason, index) from exc


def admit_ciphertexts(
    parameters: CkksParameters,
    items: Sequence[bytes],
    codec: SealCodec,
    scale_tolerance: float = DEFAULT_SCALE_TOLERANCE,
) -> list[bytes]:
    """:func:`check_ciphertexts`, returning each item in the compact storage encoding."""
    context = context_for(parameters)
    stored: list[bytes] = []
    for index, item in enumerate(items):
        try:
            _refuse_compact(item)
            ciphertext, compact = codec.load_for_storage(context, item)
            check_fresh(context, ciphertext, scale_tolerance)
            stored.append(compact)
        except SealFormatError as exc:
            raise InvalidCiphertext(exc.reason, index) from exc
    return stored


def _refuse_compact(item: bytes) -> None:
    if storage.is_compact(item):
        # The storage encoding is the server's own; clients send SEAL's.
        raise SealFormatError("not a SEAL ciphertext: the SEAL header is missing")


def _load_fresh(context: CkksContext, item: bytes, codec: SealCodec, scale_tolerance: float) -> Any:
    _refuse_compact(item)
    ciphertext = codec.load_ciphertext(context, item)
    check_fresh(context, ciphertext, scale_tolerance)
    return ciphertext


def check_fresh(context: CkksContext, ciphertext: Any, scale_tolerance: float) -> None:
    """Raise :class:`SealFormatError` unless a loaded ciphertext is as a client encrypts it."""
    size = ciphertext.size()
    if size != 2:
        raise SealFormatError(
            f"ciphertext has {size} polynomials; a freshly encrypted ciphertext has 2"
        )
    if list(ciphertext.parms_id()) != context.first_parms_id:
        raise SealFormatError(
            "ciphertext is below the top level of the modulus chain: it was rescaled or "
            "mod-switched, not freshly encrypted"
        )
    expected = context.parameters.scale
    if not abs(ciphertext.scale - expected) <= scale_tolerance * expected:
        raise SealFormatError(
            f"ciphertext is at scale {_describe(ciphertext.scale)}; these parameters use "
            f"{_describe(expected)}"
        )
    if not ciphertext.is_ntt_form():
        raise SealFormatError("ciphertext is not in NTT form, as CKKS ciphertexts are")
    if ciphertext.is_transparent():
        raise SealFormatError("ciphertext is transparent: it does not hide its value")


def _describe(scale: float) -> str:
    if math.isfinite(scale) and scale > 0:
        return f"2^{math.log2(scale):g}"
    return "an invalid value"
