"""The user's keys: one bundle, generated on the first device and carried to the others with
``keys export`` / ``keys import``. Never sent to the server: only the HE *public* key is, on a
tier upgrade.

- ``aes_key``: AES-256-GCM key of entry contents (the web client's key format, raw 32 bytes).
- ``tag_key``: blind-index / tag-name key, derived from ``aes_key`` with HKDF (so the same
  entry key always gives the same tag indexes) and kept in the bundle explicitly.
- ``he``: the CKKS secret and public keys (SEAL-native) and the parameters they belong to.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from reflective_client.crypto.aes import KEY_SIZE, EntryCipher
from reflective_client.crypto.derive import TAG_KEY, derive
from reflective_client.crypto.tags import TagNames
from reflective_client.errors import KeyFileError
from reflective_client.wire import format_time, now
from reflective_domain.errors import ValidationFailed
from reflective_domain.he_params import CkksParameters

BUNDLE_VERSION = 1


@dataclass(frozen=True)
class HeMaterial:
    parameters: CkksParameters
    secret_key: bytes = field(repr=False)
    public_key: bytes = field(repr=False)


@dataclass(frozen=True)
class UserKeys:
    aes_key: bytes = field(repr=False)
    tag_key: bytes = field(repr=False)
    he: HeMaterial | None = None
    created_at: str = ""

    def __repr__(self) -> str:
        return f"UserKeys(id={self.key_id}, he={self.he is not None})"

    @classmethod
    def generate(cls, he_parameters: CkksParameters | None = None) -> UserKeys:
        aes_key = os.urandom(KEY_SIZE)
        keys = cls(aes_key, derive(aes_key, TAG_KEY), None, format_time(now()))
        return keys.with_new_he_keys(he_parameters) if he_parameters is not None else keys

    @classmethod
    def from_aes_key(cls, aes_key: bytes) -> UserKeys:
        """Adopt an existing entry key (e.g. the web client's ``key_base64``)."""
        if len(aes_key) != KEY_SIZE:
            raise ValueError("the entry key must be 32 bytes")
        return cls(aes_key, derive(aes_key, TAG_KEY), None, format_time(now()))

    def with_new_he_keys(self, parameters: CkksParameters) -> UserKeys:
        from reflective_client.crypto.he import CkksKeys  # SEAL loads only when needed

        pair = CkksKeys.generate(parameters)
        material = HeMaterial(parameters, pair.secret_key_bytes(), pair.public_key_bytes)
        return replace(self, he=material)

    @property
    def key_id(self) -> str:
        """A short, non-secret name for this bundle, to compare devices by eye."""
        return hashlib.sha256(b"reflective-key-id:" + self.aes_key).hexdigest()[:12]

    @cached_property
    def entries(self) -> EntryCipher:
        return EntryCipher(self.aes_key)

    @cached_property
    def tags(self) -> TagNames:
        return TagNames(self.tag_key)

    @cached_property
    def ckks(self) -> Any:
        """The loaded :class:`~reflective_client.crypto.he.CkksKeys` (SEAL objects)."""
        from reflective_client.crypto.he import CkksKeys

        if self.he is None:
            raise ValueError("these keys hold no HE keys")
        return CkksKeys.load(self.he.parameters, self.he.secret_key, self.he.public_key)

    # --- serialization (the key store and the passphrase envelope carry this) -------------

    def to_json(self) -> bytes:
        doc: dict[str, Any] = {
            "version": BUNDLE_VERSION,
            "created_at": self.created_at,
            "aes_key": _b64(self.aes_key),
            "tag_key": _b64(self.tag_key),
            "he": None,
        }
        if self.he is not None:
            doc["he"] = {
                "parameters": self.he.parameters.as_dict(),
                "secret_key": _b64(self.he.secret_key),
                "public_key": _b64(self.he.public_key),
            }
        return json.dumps(doc, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> UserKeys:
        try:
            doc = json.loads(raw)
            if doc.get("version") != BUNDLE_VERSION:
                raise KeyFileError(f"unsupported key bundle version {doc.get('version')!r}")
            aes_key = _unb64(doc["aes_key"])
            tag_key = _unb64(doc["tag_key"]) if doc.get("tag_key") else derive(aes_key, TAG_KEY)
            if len(aes_key) != KEY_SIZE or len(tag_key) != 32:
                raise KeyFileError("key bundle holds keys of the wrong size")
            he = None
            if doc.get("he"):
                p = doc["he"]["parameters"]
                he = HeMaterial(
                    CkksParameters(
                        int(p["poly_modulus_degree"]),
                        tuple(int(b) for b in p["coeff_mod_bit_sizes"]),
                        float(p["scale"]),
                    ),
                    _unb64(doc["he"]["secret_key"]),
                    _unb64(doc["he"]["public_key"]),
                )
            return cls(aes_key, tag_key, he, str(doc.get("created_at", "")))
        except KeyFileError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError, ValidationFailed) as exc:
            # Never echo the content: it is key material.
            raise KeyFileError(f"key bundle is malformed ({type(exc).__name__})") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
