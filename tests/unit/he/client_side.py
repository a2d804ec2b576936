"""Test-only: what a client does with its keys, written against SEAL directly.

Deliberately independent of the adapter's codec and context code, so that a bug there cannot
cancel out in a round trip. Like the adapter, it imports TenSEAL's ``_sealapi_cpp`` directly
(``import tenseal`` needs numpy, which the project does not install).
"""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import _sealapi_cpp as sealapi
import zstandard

from reflective_domain.he_params import CkksParameters


@contextlib.contextmanager
def _scratch() -> Iterator[str]:
    fd, path = tempfile.mkstemp(suffix=".seal")
    os.close(fd)
    try:
        yield path
    finally:
        os.unlink(path)


def save(obj: Any) -> bytes:
    """SEAL-native bytes of any SEAL (or TenSEAL-internal SEAL) object."""
    with _scratch() as path:
        obj.save(path)
        return Path(path).read_bytes()


def load(obj: Any, context: Any, data: bytes) -> Any:
    with _scratch() as path:
        Path(path).write_bytes(data)
        obj.load(context, path)
    return obj


def seal_content(data: bytes) -> bytes:
    """The uncompressed content of a SEAL serialization (after its 16-byte header): the same
    for two serializations of one object whatever their compression."""
    mode = data[5]
    payload = data[16:]
    if mode == 0:
        return payload
    if mode == 1:
        return zlib.decompress(payload)
    return zstandard.ZstdDecompressor().decompress(payload)


def seal_context(parameters: CkksParameters) -> Any:
    parms = sealapi.EncryptionParameters(sealapi.SCHEME_TYPE.CKKS)
    parms.set_poly_modulus_degree(parameters.poly_modulus_degree)
    parms.set_coeff_modulus(
        sealapi.CoeffModulus.Create(
            parameters.poly_modulus_degree, list(parameters.coeff_mod_bit_sizes)
        )
    )
    return sealapi.SEALContext(parms, True, sealapi.SEC_LEVEL_TYPE.TC128)


class SealClient:
    """A client's keys and context: encrypts values into slot 0 and decrypts results."""

    def __init__(
        self,
        parameters: CkksParameters,
        secret_key: bytes | None = None,
        public_key: bytes | None = None,
    ) -> None:
        self.parameters = parameters
        self.context = seal_context(parameters)
        if secret_key is None:
            generator = sealapi.KeyGenerator(self.context)
            self.secret_key = generator.secret_key()
            self.public_key = sealapi.PublicKey()
            generator.create_public_key(self.public_key)
        else:
            self.secret_key = load(sealapi.SecretKey(), self.context, secret_key)
            self.public_key = None
            if public_key is not None:
                self.public_key = load(sealapi.PublicKey(), self.context, public_key)
        self.encoder = sealapi.CKKSEncoder(self.context)
        self.encryptor = (
            sealapi.Encryptor(self.context, self.public_key)
            if self.public_key is not None
            else None
        )
        self.decryptor = sealapi.Decryptor(self.context, self.secret_key)
        self.evaluator = sealapi.Evaluator(self.context)

    @property
    def public_key_bytes(self) -> bytes:
        return save(self.public_key)

    def encrypt_object(self, value: float, scale: float | None = None) -> Any:
        assert self.encryptor is not None, "this client has no public key"
        plain = sealapi.Plaintext()
        self.encoder.encode(float(value), scale or self.parameters.scale, plain)
        ciphertext = sealapi.Ciphertext()
        self.encryptor.encrypt(plain, ciphertext)
        return ciphertext

    def encrypt(self, value: float, scale: float | None = None) -> bytes:
        return save(self.encrypt_object(value, scale))

    def load(self, data: bytes) -> Any:
        return load(sealapi.Ciphertext(), self.context, data)

    def decrypt(self, data: bytes) -> float:
        plain = sealapi.Plaintext()
        self.decryptor.decrypt(self.load(data), plain)
        return float(self.encoder.decode_double(plain)[0])

    # Ciphertexts a client should not upload.

    def mod_switched(self, value: float) -> bytes:
        """Dropped one level, same scale."""
        ciphertext = self.encrypt_object(value)
        self.evaluator.mod_switch_to_next_inplace(ciphertext)
        return save(ciphertext)

    def rescaled(self, value: float) -> bytes:
        """Multiplied by an encoded 1 and rescaled: one level down, scale ~ s*s/q."""
        ciphertext = self.encrypt_object(value)
        one = sealapi.Plaintext()
        self.encoder.encode(1.0, ciphertext.parms_id(), self.parameters.scale, one)
        self.evaluator.multiply_plain_inplace(ciphertext, one)
        self.evaluator.rescale_to_next_inplace(ciphertext)
        return save(ciphertext)

    def squared(self, value: float, levels_down: int = 0) -> bytes:
        """Multiplied by itself without relinearization: 3 polynomials."""
        ciphertext = self.encrypt_object(value)
        for _ in range(levels_down):
            self.evaluator.mod_switch_to_next_inplace(ciphertext)
        product = sealapi.Ciphertext()
        self.evaluator.multiply(ciphertext, ciphertext, product)
        return save(product)


def tenseal_encrypt(parameters: CkksParameters, *values: float) -> tuple[list[bytes], bytes]:
    """(ciphertexts, secret key), SEAL-native, made by one TenSEAL client context.

    This is ``tenseal.context(CKKS, 8192, coeff_mod_bit_sizes=...)`` plus
    ``ts.ckks_vector(ctx, [value]).ciphertext()[0]``, through the C++ module that the
    ``tenseal`` package wraps (the wrapper itself cannot be imported without numpy).
    """
    import _tenseal_cpp as ts

    context = ts.TenSEALContext.new(
        ts.SCHEME_TYPE.CKKS,
        parameters.poly_modulus_degree,
        0,
        list(parameters.coeff_mod_bit_sizes),
        ts.ENCRYPTION_TYPE.ASYMMETRIC,
        None,
    )
    context.global_scale = parameters.scale
    ciphertexts = [
        save(ts.CKKSVector(context, [float(value)], parameters.scale).ciphertext()[0])
        for value in values
    ]
    return ciphertexts, save(context.secret_key())


def serialize_by_hand(ciphertext: Any, *, compression: int = 0, zero_c1: bool = False) -> bytes:
    """SEAL 4.1 ciphertext serialization written field by field, uncompressed (mode 0) or
    zlib (mode 1): the layout the adapter's size bounds assume, and a way to test the modes
    SEAL's Python bindings cannot write. ``zero_c1`` makes it transparent."""
    size, degree, primes = (
        ciphertext.size(),
        ciphertext.poly_modulus_degree(),
        ciphertext.coeff_modulus_size(),
    )
    count = size * degree * primes
    coefficients = [ciphertext[i] for i in range(count)]
    if zero_c1:
        per_poly = degree * primes
        coefficients[per_poly : 2 * per_poly] = [0] * per_poly
    dynarray = _header(0, 16 + 8 + 8 * count) + struct.pack(f"<Q{count}Q", count, *coefficients)
    content = (
        struct.pack("<4Q", *ciphertext.parms_id())
        + struct.pack(
            "<?QQQdQ", ciphertext.is_ntt_form(), size, degree, primes, ciphertext.scale, 1
        )
        + dynarray
    )
    if compression == 1:
        content = zlib.compress(content)
    return _header(compression, 16 + len(content)) + content


def _header(mode: int, size: int) -> bytes:
    return struct.pack("<HBBBBHQ", 0xA15E, 16, 4, 1, mode, 0, size)
