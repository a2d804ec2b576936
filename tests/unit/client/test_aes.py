"""Entry encryption is byte-compatible with the web client (Node crypto AES-256-GCM)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from reflective_client.crypto.aes import IV_SIZE, TAG_SIZE, EntryCipher
from reflective_client.errors import DecryptionError


def _cipher(vectors: dict[str, Any]) -> EntryCipher:
    return EntryCipher(base64.b64decode(vectors["key_base64"]))


def test_web_client_vectors_decrypt(aes_vectors: dict[str, Any]) -> None:
    cipher = _cipher(aes_vectors)
    assert aes_vectors["entries"]
    for entry in aes_vectors["entries"]:
        text = cipher.open_text(
            base64.b64decode(entry["encrypted_content"]),
            base64.b64decode(entry["content_iv"]),
            base64.b64decode(entry["content_tag"]),
        )
        assert text == entry["plaintext"]


def test_tag_appended_to_the_ciphertext_also_decrypts(aes_vectors: dict[str, Any]) -> None:
    entry = aes_vectors["entries"][0]
    combined = base64.b64decode(entry["encrypted_content"]) + base64.b64decode(entry["content_tag"])
    text = _cipher(aes_vectors).open_text(combined, base64.b64decode(entry["content_iv"]), None)
    assert text == entry["plaintext"]


def test_round_trip_has_the_web_client_shape(aes_vectors: dict[str, Any]) -> None:
    cipher = _cipher(aes_vectors)
    sealed = cipher.seal_text("Ünïcode and emoji 🌊 survive")
    assert len(sealed.iv) == IV_SIZE and len(sealed.tag) == TAG_SIZE
    assert len(sealed.content) == len("Ünïcode and emoji 🌊 survive".encode())
    assert cipher.open_text(sealed.content, sealed.iv, sealed.tag) == "Ünïcode and emoji 🌊 survive"


def test_every_encryption_gets_a_fresh_iv(aes_vectors: dict[str, Any]) -> None:
    cipher = _cipher(aes_vectors)
    ivs = {cipher.seal_text("same text").iv for _ in range(50)}
    assert len(ivs) == 50


@pytest.mark.parametrize("part", ["content", "iv", "tag"])
def test_tampering_is_detected(aes_vectors: dict[str, Any], part: str) -> None:
    cipher = _cipher(aes_vectors)
    sealed = cipher.seal_text("do not touch")
    fields = {"content": sealed.content, "iv": sealed.iv, "tag": sealed.tag}
    fields[part] = bytes([fields[part][0] ^ 1]) + fields[part][1:]
    with pytest.raises(DecryptionError):
        cipher.open(fields["content"], fields["iv"], fields["tag"])


def test_another_key_cannot_read(aes_vectors: dict[str, Any]) -> None:
    entry = aes_vectors["entries"][0]
    with pytest.raises(DecryptionError):
        EntryCipher(b"\x00" * 32).open(
            base64.b64decode(entry["encrypted_content"]),
            base64.b64decode(entry["content_iv"]),
            base64.b64decode(entry["content_tag"]),
        )


def test_key_is_never_in_the_repr() -> None:
    key = bytes(range(32))
    assert key.hex() not in repr(EntryCipher(key))
    assert base64.b64encode(key).decode() not in repr(EntryCipher(key))
