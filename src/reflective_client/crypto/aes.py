"""Entry encryption, byte-compatible with the Reflective web client: AES-256-GCM, a fresh
12-byte random IV per encryption, the 16-byte tag kept apart from the ciphertext, no
associated data. (Binding the entry id as associated data would be stronger, but the web
client does not, and both must read each other's entries.)"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from reflective_client.errors import DecryptionError

KEY_SIZE = 32
IV_SIZE = 12
TAG_SIZE = 16


@dataclass(frozen=True, slots=True)
class Sealed:
    """One AES-GCM encryption, in the contract's three fields."""

    content: bytes = field(repr=False)
    iv: bytes
    tag: bytes


class EntryCipher:
    """Encrypts and decrypts entry text under the user's AES-256 key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_SIZE:
            raise ValueError("the entry key must be 32 bytes (AES-256)")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "EntryCipher(<key hidden>)"

    def seal(self, plaintext: bytes) -> Sealed:
        iv = os.urandom(IV_SIZE)
        combined = self._aead.encrypt(iv, plaintext, None)
        return Sealed(combined[:-TAG_SIZE], iv, combined[-TAG_SIZE:])

    def open(self, content: bytes, iv: bytes, tag: bytes | None) -> bytes:
        """The plaintext; ``tag`` None means it is appended to ``content`` (WebCrypto style)."""
        combined = content if tag is None else content + tag
        try:
            return self._aead.decrypt(iv, combined, None)
        except (InvalidTag, ValueError) as exc:
            raise DecryptionError(
                "entry does not decrypt with this profile's key (other key, or tampered)"
            ) from exc

    def seal_text(self, text: str) -> Sealed:
        return self.seal(text.encode("utf-8"))

    def open_text(self, content: bytes, iv: bytes, tag: bytes | None) -> str:
        return self.open(content, iv, tag).decode("utf-8")
