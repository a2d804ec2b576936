"""Where a device keeps the user's keys.

With a usable OS keychain (``keyring``: macOS Keychain, Windows Credential Locker, Secret
Service...), the keychain holds a random 32-byte wrapping key and the profile's ``keys.json``
holds the key bundle encrypted under it (AES-256-GCM). The bundle itself (~700 KB with the HE
keys) is too big for some keychains (Windows caps a secret at 2.5 KB), the wrapping key is not.

Without one (keyring's ``fail`` or ``null`` backend, as on a headless server), ``keys.json``
holds the bundle in the clear, readable by its owner only (0600), and says so.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from reflective_client.crypto.keys import UserKeys
from reflective_client.errors import KeyStorageError
from reflective_client.files import is_private, write_private

SERVICE = "reflective-client"
KEYS_FILE = "keys.json"


class KeyStore(Protocol):
    def load(self) -> UserKeys | None: ...
    def save(self, keys: UserKeys) -> None: ...
    def delete(self) -> None: ...
    def describe(self) -> str: ...


def usable_keyring() -> Any | None:
    """The active keyring backend, or None when it cannot keep secrets."""
    try:
        import keyring
        from keyring.backends import chainer, fail, null

        backend = keyring.get_keyring()
    except Exception:  # a broken keyring configuration must not stop the client
        return None
    if isinstance(backend, (fail.Keyring, null.Keyring)):
        return None
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return None
    return backend


@dataclass
class MemoryKeyStore:
    """Keys in memory only (tests, the demo)."""

    keys: UserKeys | None = None

    def load(self) -> UserKeys | None:
        return self.keys

    def save(self, keys: UserKeys) -> None:
        self.keys = keys

    def delete(self) -> None:
        self.keys = None

    def describe(self) -> str:
        return "memory (not persisted)"


class FileKeyStore:
    """``keys.json`` in the profile; the bundle wrapped by a keychain key when ``backend`` is
    given, else in the clear with mode 0600."""

    def __init__(self, profile_dir: Path, backend: Any | None = None) -> None:
        self.path = profile_dir / KEYS_FILE
        self.backend = backend

    def describe(self) -> str:
        if self.backend is not None:
            return f"OS keychain ({type(self.backend).__name__}) + {self.path} (encrypted)"
        return f"{self.path} (owner-only file, 0600)"

    def load(self) -> UserKeys | None:
        if not self.path.exists():
            return None
        if not is_private(self.path):
            raise KeyStorageError(
                f"{self.path} is readable by other users: fix with chmod 600 (keys not loaded)"
            )
        try:
            doc = json.loads(self.path.read_bytes())
            storage = doc["storage"]
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyStorageError(f"{self.path} is damaged ({type(exc).__name__})") from None
        if storage == "file":
            return UserKeys.from_json(base64.b64decode(doc["bundle"]))
        if storage == "keyring":
            return UserKeys.from_json(self._unwrap(doc))
        raise KeyStorageError(f"{self.path}: unknown storage {storage!r}")

    def save(self, keys: UserKeys) -> None:
        previous = self._keyring_account()
        bundle = keys.to_json()
        if self.backend is None:
            doc = {"storage": "file", "bundle": base64.b64encode(bundle).decode()}
        else:
            doc = self._wrap(bundle)
        write_private(self.path, json.dumps(doc).encode())
        if previous is not None and previous != doc.get("account"):
            self._forget(previous)

    def _keyring_account(self) -> str | None:
        try:
            doc = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return None
        account = doc.get("account") if doc.get("storage") == "keyring" else None
        return str(account) if account else None

    def _forget(self, account: str) -> None:
        if self.backend is None:
            return
        # Best effort: a stale wrapping key opens nothing any more.
        with contextlib.suppress(Exception):
            self.backend.delete_password(SERVICE, account)

    def delete(self) -> None:
        account = self._keyring_account()
        if account is not None:
            self._forget(account)
        if self.path.exists():
            self.path.unlink()

    def _wrap(self, bundle: bytes) -> dict[str, Any]:
        assert self.backend is not None
        account = f"keys-{secrets.token_hex(8)}"
        wrapping_key = AESGCM.generate_key(256)
        try:
            self.backend.set_password(SERVICE, account, base64.b64encode(wrapping_key).decode())
        except Exception as exc:
            raise KeyStorageError(
                f"the OS keychain refused the key ({type(exc).__name__})"
            ) from None
        nonce = os.urandom(12)
        sealed = AESGCM(wrapping_key).encrypt(nonce, bundle, account.encode())
        return {
            "storage": "keyring",
            "service": SERVICE,
            "account": account,
            "nonce": base64.b64encode(nonce).decode(),
            "bundle": base64.b64encode(sealed).decode(),
        }

    def _unwrap(self, doc: dict[str, Any]) -> bytes:
        if self.backend is None:
            raise KeyStorageError(
                "the keys are protected by an OS keychain that is not available here"
            )
        try:
            stored = self.backend.get_password(doc.get("service", SERVICE), doc["account"])
        except Exception as exc:
            raise KeyStorageError(f"the OS keychain failed ({type(exc).__name__})") from None
        if stored is None:
            raise KeyStorageError("the OS keychain no longer holds this profile's key")
        try:
            return AESGCM(base64.b64decode(stored)).decrypt(
                base64.b64decode(doc["nonce"]),
                base64.b64decode(doc["bundle"]),
                doc["account"].encode(),
            )
        except (InvalidTag, ValueError) as exc:
            raise KeyStorageError(f"{self.path} does not open with the keychain's key") from exc


def open_keystore(profile_dir: Path) -> FileKeyStore:
    """The key store for a profile: the OS keychain when usable, else the 0600 file."""
    return FileKeyStore(profile_dir, usable_keyring())
