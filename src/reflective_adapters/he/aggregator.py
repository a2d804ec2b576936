"""Key-free arithmetic on CKKS ciphertexts: sums, and averages as a sum times 1/count."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

from reflective_adapters.he import storage
from reflective_adapters.he._sealapi import sealapi
from reflective_adapters.he.codec import SealCodec
from reflective_adapters.he.context import context_for, encryption_parameters
from reflective_adapters.he.errors import SealFormatError
from reflective_adapters.he.offload import Offloader
from reflective_domain.errors import InvalidCiphertext
from reflective_domain.he_params import CkksParameters

# SEAL errors from evaluator and encoder, as pybind11 raises them.
_SEAL_ERRORS = (RuntimeError, ValueError, OverflowError)


class SealAggregator:
    """:class:`~reflective_domain.ports.he.HeAggregator` on SEAL 4.1 via TenSEAL.

    Results are in the compact storage encoding (:mod:`~reflective_adapters.he.storage`), as
    rollups are kept; :meth:`for_client` turns them (and stored metrics) into SEAL-native zstd
    bytes that a client loads and decrypts with its own context. The decoder reads each
    ciphertext's own scale, so no plaintext scale bookkeeping leaks out.
    """

    def __init__(
        self,
        codec: SealCodec | None = None,
        *,
        executor: Executor | None = None,
        max_concurrency: int = 4,
    ) -> None:
        self._codec = codec or SealCodec()
        self._offload = Offloader(executor, max_concurrency)

    async def add(self, parameters: CkksParameters, items: Sequence[bytes]) -> bytes:
        if not items:
            raise ValueError("add needs at least one ciphertext")
        return await self._offload.run(add, parameters, list(items), self._codec)

    async def combine(
        self, parameters: CkksParameters, plus: Sequence[bytes], minus: Sequence[bytes]
    ) -> bytes:
        if not plus:
            raise ValueError("combine needs at least one ciphertext to subtract from")
        return await self._offload.run(combine, parameters, list(plus), list(minus), self._codec)

    async def multiply_plain(self, parameters: CkksParameters, item: bytes, factor: float) -> bytes:
        if not math.isfinite(factor) or factor == 0:
            raise ValueError("factor must be finite and non-zero")
        return await self._offload.run(multiply_plain, parameters, item, float(factor), self._codec)

    async def for_client(self, items: Sequence[bytes]) -> list[bytes]:
        if not any(storage.is_compact(item) for item in items):
            return list(items)  # stored before the compact encoding: SEAL's bytes already
        return await self._offload.run(for_client, list(items))

    def serialized_context(self, parameters: CkksParameters) -> bytes:
        # Synchronous by the port's contract: only EncryptionParameters are built (a
        # millisecond), never a full SEALContext, and the bytes are cached.
        return serialized_context(parameters, self._codec)


# The synchronous work: module-level functions with picklable arguments, so any executor,
# threads or processes, can run them.


def add(parameters: CkksParameters, items: Sequence[bytes], codec: SealCodec) -> bytes:
    """The encrypted sum of ``items``. One ciphertext is loaded at a time and folded into the
    running total, so memory stays flat and each SEAL call (which holds the GIL) is short;
    ``Evaluator.add_many`` would need them all in memory and is slower here."""
    context = context_for(parameters)
    total: Any = None
    for index, item in enumerate(items):
        try:
            ciphertext = codec.load_ciphertext(context, item)
        except SealFormatError as exc:
            raise InvalidCiphertext(exc.reason, index) from exc
        if total is None:
            total = ciphertext
            continue
        try:
            context.evaluator.add_inplace(total, ciphertext)
        except _SEAL_ERRORS as exc:
            raise InvalidCiphertext(
                "ciphertext cannot be added to the others: it is at another level or scale",
                index,
            ) from exc
    return codec.save_for_storage(context, total)


def combine(
    parameters: CkksParameters, plus: Sequence[bytes], minus: Sequence[bytes], codec: SealCodec
) -> bytes:
    """The encrypted sum of ``plus`` minus the sum of ``minus``: how a rollup takes back a
    replaced or retracted metric. Loaded one at a time, like :func:`add`."""
    context = context_for(parameters)
    total: Any = None
    for sign, items in ((1, plus), (-1, minus)):
        for index, item in enumerate(items):
            try:
                ciphertext = codec.load_ciphertext(context, item)
            except SealFormatError as exc:
                raise InvalidCiphertext(exc.reason, index) from exc
            if total is None:
                total = ciphertext
                continue
            try:
                if sign > 0:
                    context.evaluator.add_inplace(total, ciphertext)
                else:
                    context.evaluator.sub_inplace(total, ciphertext)
            except _SEAL_ERRORS as exc:
                raise InvalidCiphertext(
                    "ciphertext cannot be combined with the others: it is at another level "
                    "or scale",
                    index,
                ) from exc
    return codec.save_for_storage(context, total)


def multiply_plain(
    parameters: CkksParameters, item: bytes, factor: float, codec: SealCodec
) -> bytes:
    """``item`` times ``factor``, rescaled to the next level.

    The factor is encoded at scale q, the prime that the rescale then divides out, rather than
    at the ciphertext's scale s: the product is at s*q, and after the rescale exactly at s
    again (instead of s*s/q), so the result keeps the parameters' scale and the factor keeps
    ~40 bits of precision.
    """
    context = context_for(parameters)
    try:
        ciphertext = codec.load_ciphertext(context, item)
    except SealFormatError as exc:
        raise InvalidCiphertext(exc.reason) from exc
    level = context.seal.get_context_data(ciphertext.parms_id())
    if level.next_context_data() is None:
        raise InvalidCiphertext("ciphertext is at the last level and cannot be rescaled")
    prime = level.parms().coeff_modulus()[-1].value()
    plain = sealapi.Plaintext()
    product = sealapi.Ciphertext()
    result = sealapi.Ciphertext()
    try:
        context.encoder.encode(factor, ciphertext.parms_id(), float(prime), plain)
        context.evaluator.multiply_plain(ciphertext, plain, product)
        context.evaluator.rescale_to_next(product, result)
    except _SEAL_ERRORS as exc:
        # Too large to encode, or so small that it encodes to zero.
        raise ValueError(f"cannot multiply by {factor!r} under these parameters") from exc
    return codec.save_for_storage(context, result)


def for_client(items: Sequence[bytes]) -> list[bytes]:
    """Each item as SEAL's own zstd-compressed serialization, what clients load."""
    try:
        return [storage.for_client(item) for item in items]
    except SealFormatError as exc:
        raise InvalidCiphertext(exc.reason) from exc


@functools.lru_cache(maxsize=16)
def serialized_context(parameters: CkksParameters, codec: SealCodec) -> bytes:
    """SEAL-native ``EncryptionParameters`` for ``parameters``: scheme, degree and primes.
    There is no key anywhere in the server to put in it."""
    return codec.save_parameters(encryption_parameters(parameters))
