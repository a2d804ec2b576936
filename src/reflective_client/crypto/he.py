"""CKKS metrics: the user's SEAL key pair, one value per ciphertext (slot 0).

Compatible with the web client (node-seal 6 = SEAL 4.1): the context is rebuilt from the
parameters the server announces, ciphertexts are SEAL-native and zstd-compressed, values are
encoded like node-seal's ``encode(Float64Array.from([v]), scale)`` (slot 0, zeros elsewhere).

By default values are encrypted with the secret key ("seeded" symmetric encryption): the
ciphertext is half the size (~160 KB instead of ~330 KB at 8192/[60,40,40,60]) and the server
loads and adds it like any other. Public-key encryption is there for holders of the public key
only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reflective_client.crypto import seal_io
from reflective_client.crypto.seal_io import sealapi
from reflective_client.errors import DecryptionError
from reflective_domain.he_params import CkksParameters


def seal_context(parameters: CkksParameters) -> Any:
    """A SEAL context for ``parameters``. ``CoeffModulus.Create`` is deterministic, so this
    is the server's (and node-seal's) context for the same parameters."""
    parms = sealapi.EncryptionParameters(sealapi.SCHEME_TYPE.CKKS)
    parms.set_poly_modulus_degree(parameters.poly_modulus_degree)
    parms.set_coeff_modulus(
        sealapi.CoeffModulus.Create(
            parameters.poly_modulus_degree, list(parameters.coeff_mod_bit_sizes)
        )
    )
    context = sealapi.SEALContext(parms, True, sealapi.SEC_LEVEL_TYPE.TC128)
    if not context.parameters_set():
        raise ValueError(f"SEAL rejects these parameters: {context.parameters_error_message()}")
    return context


def _max_bytes(parameters: CkksParameters) -> int:
    """Largest SEAL object of these parameters: 2 polynomials over the whole modulus chain,
    8 bytes per coefficient, plus headers."""
    primes = len(parameters.coeff_mod_bit_sizes)
    return 2 * parameters.poly_modulus_degree * primes * 8 + 64 * 1024


class CkksKeys:
    """A user's CKKS keys and the SEAL tools built on them. The secret key never leaves the
    device; only ``public_key_bytes`` is ever sent (on a tier upgrade)."""

    def __init__(
        self,
        parameters: CkksParameters,
        context: Any,
        secret_key: Any | None,
        public_key: Any | None,
        public_key_bytes: bytes | None = None,
    ) -> None:
        if secret_key is None and public_key is None:
            raise ValueError("CKKS keys need a secret key, a public key, or both")
        self.parameters = parameters
        self._context = context
        self._secret = secret_key
        self._public = public_key
        self._public_bytes = public_key_bytes
        self._encoder = sealapi.CKKSEncoder(context)
        self._evaluator = sealapi.Evaluator(context)
        if secret_key is not None and public_key is not None:
            self._encryptor = sealapi.Encryptor(context, public_key, secret_key)
        elif secret_key is not None:
            self._encryptor = sealapi.Encryptor(context, secret_key)
        else:
            self._encryptor = sealapi.Encryptor(context, public_key)
        self._decryptor = None if secret_key is None else sealapi.Decryptor(context, secret_key)

    def __repr__(self) -> str:
        return f"CkksKeys({self.parameters!r}, secret={'held' if self._secret else 'none'})"

    @classmethod
    def generate(cls, parameters: CkksParameters) -> CkksKeys:
        context = seal_context(parameters)
        generator = sealapi.KeyGenerator(context)
        public = sealapi.PublicKey()
        generator.create_public_key(public)
        return cls(parameters, context, generator.secret_key(), public)

    @classmethod
    def load(
        cls,
        parameters: CkksParameters,
        secret_key: bytes | None = None,
        public_key: bytes | None = None,
    ) -> CkksKeys:
        """Keys from SEAL-native bytes (as node-seal's ``SecretKey.save()`` writes them)."""
        context = seal_context(parameters)
        limit = _max_bytes(parameters)
        secret = (
            None
            if secret_key is None
            else seal_io.load(sealapi.SecretKey(), context, secret_key, limit)
        )
        public = (
            None
            if public_key is None
            else seal_io.load(sealapi.PublicKey(), context, public_key, limit)
        )
        return cls(parameters, context, secret, public, public_key)

    @property
    def can_decrypt(self) -> bool:
        return self._decryptor is not None

    @property
    def public_key_bytes(self) -> bytes:
        if self._public is None:
            raise ValueError("no public key held")
        if self._public_bytes is None:
            self._public_bytes = seal_io.save(self._public)
        return self._public_bytes

    def secret_key_bytes(self) -> bytes:
        """SEAL-native secret key: for the local key store and the passphrase export only."""
        if self._secret is None:
            raise ValueError("no secret key held")
        return seal_io.save(self._secret)

    def _plain(self, values: Sequence[float]) -> Any:
        plain = sealapi.Plaintext()
        self._encoder.encode([float(v) for v in values], self.parameters.scale, plain)
        return plain

    @property
    def slot_count(self) -> int:
        return int(self.parameters.poly_modulus_degree // 2)

    def encrypt(self, value: float, *, symmetric: bool | None = None) -> bytes:
        """SEAL-native ciphertext of ``value`` in slot 0. ``symmetric`` (the default when
        the secret key is held) makes a seeded, half-size ciphertext."""
        return self.encrypt_slots([value], symmetric=symmetric)

    def encrypt_slots(self, values: Sequence[float], *, symmetric: bool | None = None) -> bytes:
        """SEAL-native ciphertext of ``values`` in slots 0.. (zeros after), as ``encrypt``."""
        if not 0 < len(values) <= self.slot_count:
            raise ValueError(f"1..{self.slot_count} values fit in one ciphertext")
        use_secret = self._secret is not None if symmetric is None else symmetric
        plain = self._plain(values)
        if use_secret:
            if self._secret is None:
                raise ValueError("symmetric encryption needs the secret key")
            return seal_io.save(self._encryptor.encrypt_symmetric(plain))
        if self._public is None:
            raise ValueError("public-key encryption needs the public key")
        ciphertext = sealapi.Ciphertext()
        self._encryptor.encrypt(plain, ciphertext)
        return seal_io.save(ciphertext)

    def _load_ciphertext(self, data: bytes) -> Any:
        return seal_io.load(sealapi.Ciphertext(), self._context, data, _max_bytes(self.parameters))

    def decrypt(self, data: bytes) -> float:
        """Slot 0 of a ciphertext (a metric, or a sum/average the server computed)."""
        return self.decrypt_slots(data, 1)[0]

    def decrypt_slots(self, data: bytes, count: int) -> list[float]:
        """The first ``count`` slots of a ciphertext (a packed year the server summed)."""
        if self._decryptor is None:
            raise ValueError("decryption needs the secret key")
        try:
            ciphertext = self._load_ciphertext(data)
        except ValueError as exc:
            raise DecryptionError(f"result is not a ciphertext under these keys: {exc}") from None
        plain = sealapi.Plaintext()
        self._decryptor.decrypt(ciphertext, plain)
        return [float(v) for v in self._encoder.decode_double(plain)[:count]]

    def add(self, ciphertexts: Sequence[bytes]) -> bytes:
        """The homomorphic sum, as the server computes it (no key needed): for checks."""
        if not ciphertexts:
            raise ValueError("nothing to add")
        total = self._load_ciphertext(ciphertexts[0])
        for data in ciphertexts[1:]:
            self._evaluator.add_inplace(total, self._load_ciphertext(data))
        return seal_io.save(total)
