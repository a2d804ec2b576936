"""Sub-keys derived from one secret with HKDF-SHA256, one ``info`` label per purpose, so no
key is ever used for two things."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TAG_KEY = b"reflective/v1/tag-key"
TAG_INDEX = b"reflective/v1/tag-index"
TAG_NAME = b"reflective/v1/tag-name"
STORE_WRAP = b"reflective/v1/keystore-wrap"


def derive(secret: bytes, label: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=label).derive(secret)
