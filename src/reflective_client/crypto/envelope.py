"""Keys wrapped with a passphrase, to carry them from one device to another.

A versioned JSON envelope::

    {"format": "reflective-keys", "version": 1,
     "kdf": {"name": "argon2id", "salt", "time_cost", "memory_cost", "parallelism"},
     "cipher": {"name": "AES-256-GCM", "nonce"},
     "ciphertext": ...}

The wrapping key is argon2id(passphrase, salt); every field but ``ciphertext`` is the GCM
associated data, so changing a parameter, the salt or the nonce fails like a wrong
passphrase does. (GCM cannot tell a wrong passphrase from a modified file: the error says
both.) The KDF parameters are bounded on import, so a crafted file cannot make a device
spend gigabytes or minutes.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import unicodedata
from dataclasses import dataclass
from typing import Any

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from reflective_client.errors import KeyFileError, WrongPassphrase

FORMAT = "reflective-keys"
VERSION = 1
SALT_SIZE = 16
NONCE_SIZE = 12
MIN_PASSPHRASE = 8


@dataclass(frozen=True, slots=True)
class KdfCost:
    """argon2id cost. The default is RFC 9106's second recommendation (64 MiB, t=3, p=4)."""

    time_cost: int = 3
    memory_cost: int = 64 * 1024  # KiB
    parallelism: int = 4

    def check(self) -> None:
        if not (1 <= self.time_cost <= 20):
            raise KeyFileError("key file asks for an unreasonable argon2 time cost")
        if not (8 * self.parallelism <= self.memory_cost <= 1024 * 1024):
            raise KeyFileError("key file asks for an unreasonable argon2 memory cost")
        if not (1 <= self.parallelism <= 64):
            raise KeyFileError("key file asks for an unreasonable argon2 parallelism")


def _key(passphrase: str, salt: bytes, cost: KdfCost) -> bytes:
    # NFKC: the same passphrase typed on two systems may arrive in two Unicode forms.
    secret = unicodedata.normalize("NFKC", passphrase).encode("utf-8")
    return hash_secret_raw(
        secret, salt, cost.time_cost, cost.memory_cost, cost.parallelism, 32, Type.ID
    )


def _associated(header: dict[str, Any]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def seal(payload: bytes, passphrase: str, cost: KdfCost | None = None) -> str:
    """The envelope (JSON text) of ``payload`` under ``passphrase``."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise ValueError(f"the passphrase needs at least {MIN_PASSPHRASE} characters")
    cost = cost or KdfCost()
    cost.check()
    salt, nonce = os.urandom(SALT_SIZE), os.urandom(NONCE_SIZE)
    header = {
        "format": FORMAT,
        "version": VERSION,
        "kdf": {
            "name": "argon2id",
            "salt": _b64(salt),
            "time_cost": cost.time_cost,
            "memory_cost": cost.memory_cost,
            "parallelism": cost.parallelism,
        },
        "cipher": {"name": "AES-256-GCM", "nonce": _b64(nonce)},
    }
    ciphertext = AESGCM(_key(passphrase, salt, cost)).encrypt(nonce, payload, _associated(header))
    return json.dumps({**header, "ciphertext": _b64(ciphertext)}, indent=2) + "\n"


def open_envelope(text: str, passphrase: str) -> bytes:
    """The payload; :class:`WrongPassphrase` or :class:`KeyFileError` otherwise."""
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise KeyFileError("not a Reflective key file")
        if doc.get("version") != VERSION:
            raise KeyFileError(f"key file version {doc.get('version')!r} is not supported")
        kdf, cipher = doc["kdf"], doc["cipher"]
        if kdf.get("name") != "argon2id" or cipher.get("name") != "AES-256-GCM":
            raise KeyFileError("key file uses an unsupported algorithm")
        cost = KdfCost(int(kdf["time_cost"]), int(kdf["memory_cost"]), int(kdf["parallelism"]))
        salt = base64.b64decode(kdf["salt"], validate=True)
        nonce = base64.b64decode(cipher["nonce"], validate=True)
        ciphertext = base64.b64decode(doc["ciphertext"], validate=True)
    except KeyFileError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise KeyFileError(f"key file is damaged ({type(exc).__name__})") from None
    cost.check()
    if len(salt) < 8 or len(nonce) != NONCE_SIZE:
        raise KeyFileError("key file has a malformed salt or nonce")
    header = {k: v for k, v in doc.items() if k != "ciphertext"}
    try:
        return AESGCM(_key(passphrase, salt, cost)).decrypt(nonce, ciphertext, _associated(header))
    except InvalidTag:
        raise WrongPassphrase(
            "wrong passphrase, or the key file was modified: nothing imported"
        ) from None
