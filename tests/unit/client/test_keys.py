"""Key bundles and their passphrase export: round trip, wrong passphrase, tampering."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from reflective_client import keyfile
from reflective_client.crypto import envelope
from reflective_client.crypto.keys import UserKeys
from reflective_client.errors import KeyFileError, WrongPassphrase
from reflective_domain.he_params import CkksParameters
from tests.unit.client.conftest import FAST_KDF

PASSPHRASE = "a long and memorable passphrase"


@pytest.fixture(scope="module")
def keys() -> UserKeys:
    return UserKeys.generate(CkksParameters.default())


def test_bundle_round_trip(keys: UserKeys) -> None:
    again = UserKeys.from_json(keys.to_json())
    assert again == keys
    assert again.ckks.decrypt(keys.ckks.encrypt(7.0)) == pytest.approx(7.0, abs=1e-6)


def test_tag_key_derives_from_the_entry_key() -> None:
    aes = bytes(range(32))
    assert UserKeys.from_aes_key(aes).tag_key == UserKeys.from_aes_key(aes).tag_key
    assert UserKeys.from_aes_key(aes).tag_key not in (aes, bytes(32))


def test_repr_shows_no_key(keys: UserKeys) -> None:
    text = repr(keys)
    assert base64.b64encode(keys.aes_key).decode() not in text and keys.aes_key.hex() not in text


def test_export_import_round_trip(tmp_path: Path, keys: UserKeys) -> None:
    path = tmp_path / "keys.reflective"
    keyfile.export_keys(keys, path, PASSPHRASE, FAST_KDF)
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text()
    assert base64.b64encode(keys.aes_key).decode() not in text
    assert json.loads(text)["kdf"]["name"] == "argon2id"
    assert keyfile.read_keys(path, PASSPHRASE) == keys


def test_default_cost_is_rfc9106_second_recommendation() -> None:
    assert envelope.KdfCost() == envelope.KdfCost(3, 65536, 4)


def test_wrong_passphrase(tmp_path: Path, keys: UserKeys) -> None:
    path = tmp_path / "keys.reflective"
    keyfile.export_keys(keys, path, PASSPHRASE, FAST_KDF)
    with pytest.raises(WrongPassphrase, match="wrong passphrase"):
        keyfile.read_keys(path, PASSPHRASE + "!")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d.update(ciphertext=_flip(d["ciphertext"])),
        lambda d: d["kdf"].update(salt=_flip(d["kdf"]["salt"])),
        lambda d: d["cipher"].update(nonce=_flip(d["cipher"]["nonce"])),
        lambda d: d["kdf"].update(time_cost=2),  # parameters are authenticated too
        lambda d: d.update(note="added"),
    ],
    ids=["ciphertext", "salt", "nonce", "kdf-params", "extra-field"],
)
def test_tampered_file_is_refused(tmp_path: Path, keys: UserKeys, tamper: object) -> None:
    path = tmp_path / "keys.reflective"
    keyfile.export_keys(keys, path, PASSPHRASE, FAST_KDF)
    doc = json.loads(path.read_text())
    tamper(doc)  # type: ignore[operator]
    path.write_text(json.dumps(doc))
    with pytest.raises(WrongPassphrase):
        keyfile.read_keys(path, PASSPHRASE)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "damaged"),
        ('{"format": "something-else"}', "not a Reflective key file"),
        ('{"format": "reflective-keys", "version": 99}', "version 99"),
        ('{"format": "reflective-keys", "version": 1}', "damaged"),
    ],
)
def test_malformed_files_are_refused_clearly(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "keys.reflective"
    path.write_text(text)
    with pytest.raises(KeyFileError, match=message):
        keyfile.read_keys(path, PASSPHRASE)


def test_absurd_kdf_cost_is_refused_before_running(tmp_path: Path, keys: UserKeys) -> None:
    path = tmp_path / "keys.reflective"
    keyfile.export_keys(keys, path, PASSPHRASE, FAST_KDF)
    doc = json.loads(path.read_text())
    doc["kdf"]["memory_cost"] = 64 * 1024 * 1024  # 64 GiB
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyFileError, match="memory cost"):
        keyfile.read_keys(path, PASSPHRASE)


def test_short_passphrases_are_refused(keys: UserKeys, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least"):
        keyfile.export_keys(keys, tmp_path / "k", "short", FAST_KDF)


def test_importing_over_other_keys_needs_replace(keys: UserKeys) -> None:
    other = UserKeys.generate()
    with pytest.raises(KeyFileError, match="--replace"):
        keyfile.check_replaceable(other, keys, replace=False)
    keyfile.check_replaceable(other, keys, replace=True)
    keyfile.check_replaceable(keys, keys, replace=False)
    keyfile.check_replaceable(None, keys, replace=False)


def _flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[-1] ^= 1
    return base64.b64encode(bytes(raw)).decode()
