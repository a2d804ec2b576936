"""Keys at rest: the OS keychain when usable, else an owner-only file."""

from __future__ import annotations

import json
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail

from reflective_client.crypto.keys import UserKeys
from reflective_client.errors import KeyStorageError
from reflective_client.keystore import FileKeyStore, open_keystore, usable_keyring


class DictKeyring(KeyringBackend):
    priority = 10  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.secrets.pop((service, username), None)


@pytest.fixture
def keys() -> UserKeys:
    return UserKeys.generate()


def test_without_a_usable_keyring_the_file_is_owner_only(tmp_path: Path, keys: UserKeys) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        assert usable_keyring() is None
        store = open_keystore(tmp_path)
    finally:
        keyring.set_keyring(previous)
    store.save(keys)
    path = tmp_path / "keys.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text())["storage"] == "file"
    assert store.load() == keys
    assert "0600" in store.describe()


def test_a_file_others_can_read_is_refused(tmp_path: Path, keys: UserKeys) -> None:
    store = FileKeyStore(tmp_path)
    store.save(keys)
    (tmp_path / "keys.json").chmod(0o644)
    with pytest.raises(KeyStorageError, match="chmod 600"):
        store.load()


def test_with_a_keyring_the_file_holds_only_a_wrapped_bundle(
    tmp_path: Path, keys: UserKeys
) -> None:
    backend = DictKeyring()
    store = FileKeyStore(tmp_path, backend)
    store.save(keys)
    doc = json.loads((tmp_path / "keys.json").read_text())
    assert doc["storage"] == "keyring" and len(backend.secrets) == 1
    assert keys.to_json().decode() not in (tmp_path / "keys.json").read_text()
    assert FileKeyStore(tmp_path, backend).load() == keys
    # Saving again replaces the wrapping key instead of piling them up.
    store.save(keys)
    assert len(backend.secrets) == 1
    store.delete()
    assert not backend.secrets and not (tmp_path / "keys.json").exists()


def test_keyring_protected_keys_need_that_keyring(tmp_path: Path, keys: UserKeys) -> None:
    backend = DictKeyring()
    FileKeyStore(tmp_path, backend).save(keys)
    with pytest.raises(KeyStorageError, match="not available"):
        FileKeyStore(tmp_path, None).load()
    backend.secrets.clear()
    with pytest.raises(KeyStorageError, match="no longer holds"):
        FileKeyStore(tmp_path, backend).load()


def test_no_keys_yet(tmp_path: Path) -> None:
    assert FileKeyStore(tmp_path).load() is None
