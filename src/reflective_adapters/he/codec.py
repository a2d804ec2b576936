"""SEAL-native bytes to and from SEAL objects: the only place that calls SEAL's load and save.

The format is SEAL 4.1's own serialization with zstd compression, exactly what node-seal's
``save()`` writes and ``load()`` reads, through the private scratch files of
:mod:`reflective_protocol.seal` (RAM-backed ``/dev/shm`` by default: on a disk-backed ``/tmp``,
validating 1,000 ciphertexts took twice as long).

Untrusted bytes are never handed to SEAL before :mod:`~reflective_adapters.he.header` and
:mod:`~reflective_adapters.he.expansion` accepted them; SEAL's own ``load`` then checks the
object against the context (parameters, sizes, coefficient ranges).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reflective_adapters.he import storage
from reflective_adapters.he._sealapi import sealapi
from reflective_adapters.he.context import CkksContext
from reflective_adapters.he.errors import SealFormatError
from reflective_adapters.he.expansion import check_expansion
from reflective_adapters.he.header import SealHeader, read_header
from reflective_protocol import seal

_PREFIX = "reflective-he-"


@dataclass(frozen=True, slots=True)
class SealCodec:
    """Loads and saves SEAL objects. Plain, picklable settings, so worker processes can use it.

    ``max_ciphertext_bytes`` and ``max_public_key_bytes`` cap the serialized size before
    anything else is looked at.
    """

    max_ciphertext_bytes: int = 2 * 1024 * 1024
    max_public_key_bytes: int = 4 * 1024 * 1024
    scratch_dir: str | None = None
    """Where temporary files go; default ``/dev/shm`` if usable, else the system temp dir."""

    def load_ciphertext(self, context: CkksContext, data: bytes) -> Any:
        """A ``sealapi.Ciphertext`` valid for ``context``, or :class:`SealFormatError`.
        ``data`` is SEAL's serialization or the compact storage encoding
        (:mod:`~reflective_adapters.he.storage`), which is first decoded to SEAL's."""
        if storage.is_compact(data):
            data = storage.decode(data)
        self._ciphertext_header(context, data)
        return self._load(sealapi.Ciphertext(), context, data, "ciphertext")

    def _ciphertext_header(self, context: CkksContext, data: bytes) -> SealHeader:
        """The header of a ciphertext no larger, nor expanding further, than any the server
        accepts; :class:`SealFormatError` otherwise."""
        header = read_header(data, max_size=self.max_ciphertext_bytes, kind="ciphertext")
        check_expansion(
            data,
            header,
            content_bound=context.ciphertext_bound,
            kind="ciphertext",
            largest="a freshly encrypted ciphertext",
        )
        return header

    def load_public_key(self, context: CkksContext, data: bytes) -> Any:
        """A ``sealapi.PublicKey`` valid for ``context``, or :class:`SealFormatError`."""
        header = read_header(data, max_size=self.max_public_key_bytes, kind="public key")
        check_expansion(
            data,
            header,
            content_bound=context.public_key_bound,
            kind="public key",
            largest="a public key",
        )
        return self._load(sealapi.PublicKey(), context, data, "public key")

    def save_ciphertext(self, ciphertext: Any) -> bytes:
        """SEAL-native, zstd-compressed bytes (SEAL's default compression)."""
        return self._save(ciphertext)

    def load_for_storage(self, context: CkksContext, data: bytes) -> tuple[Any, bytes]:
        """Like :meth:`load_ciphertext` for SEAL bytes from a client, and the loaded
        ciphertext's compact storage encoding. The content is inflated once, here, and SEAL
        loads (and validates) it uncompressed; the coefficients stored are the ones SEAL
        accepted. Anything not laid out plainly is left to SEAL's own load and kept as sent:
        a seeded ciphertext (symmetric encryption saves its second polynomial as a 64-byte
        seed) is already smaller than any packing of both polynomials."""
        header = self._ciphertext_header(context, data)
        parts = storage.split(data, header, context.ciphertext_bound)
        if parts is None:
            return self._load(sealapi.Ciphertext(), context, data, "ciphertext"), data
        ciphertext = self._load(
            sealapi.Ciphertext(), context, storage.uncompressed(parts), "ciphertext"
        )
        return ciphertext, self._encode(context, parts, ciphertext)

    def save_for_storage(self, context: CkksContext, ciphertext: Any) -> bytes:
        """The compact storage encoding of a loaded or computed ciphertext."""
        data = self.save_ciphertext(ciphertext)
        parts = storage.split(data, read_header(data, max_size=len(data)), context.ciphertext_bound)
        if parts is None:
            raise SealFormatError("ciphertext cannot be stored: SEAL wrote an unexpected layout")
        return self._encode(context, parts, ciphertext)

    def _encode(
        self, context: CkksContext, parts: storage.SealCiphertextBytes, ciphertext: Any
    ) -> bytes:
        if list(parts.parms_id) != list(ciphertext.parms_id()):
            raise SealFormatError("ciphertext cannot be stored: SEAL wrote an unexpected layout")
        level = context.seal.get_context_data(ciphertext.parms_id())
        bits = [prime.bit_count() for prime in level.parms().coeff_modulus()]
        try:
            return storage.encode(parts, bits)
        except ValueError as exc:
            raise SealFormatError("ciphertext has coefficients beyond its primes") from exc

    def save_parameters(self, parameters: Any) -> bytes:
        """SEAL-native ``EncryptionParameters``: what a client builds its context from."""
        return self._save(parameters)

    def _load(self, target: Any, context: CkksContext, data: bytes, kind: str) -> Any:
        try:
            # The bindings' load() runs SEAL's validating load, not unsafe_load.
            return seal.load(target, context.seal, data, _PREFIX, self.scratch_dir)
        except seal.SEAL_ERRORS as exc:
            raise SealFormatError(_explain(str(exc), kind)) from exc

    def _save(self, obj: Any) -> bytes:
        return seal.save(obj, _PREFIX, self.scratch_dir)


def _explain(seal_message: str, kind: str) -> str:
    """A user-facing reason for a SEAL load failure. SEAL's messages name no data, but the
    reason is ours anyway, so it stays stable whatever SEAL says."""
    if "data is invalid" in seal_message:
        return (
            f"{kind} is not valid under these CKKS parameters: it was made under other "
            "parameters, or is corrupted"
        )
    if "decompression" in seal_message or "inflate" in seal_message:
        return f"{kind} has corrupt compressed data"
    if "I/O error" in seal_message:
        return f"{kind} is truncated: its compressed content ends early"
    return f"{kind} is not a valid SEAL {kind}"
