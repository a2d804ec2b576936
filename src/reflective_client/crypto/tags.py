"""Private tag names on a server whose tag API holds only ``{name, color}``.

The ``name`` the server stores is ``bi:<index>`` or ``bi:<index>.<sealed name>``:

- ``index``: a blind index, HMAC-SHA256 of the normalised name (the domain's rule: NFKC,
  whitespace folded, case-folded) under a key derived from the user's key material, cut to
  80 bits and written in lower-case base32 (16 characters). Lower-case base32 rather than
  base64url because the server de-duplicates tag names case-insensitively: base64url's
  upper and lower case letters would collide there.
- ``sealed name``: the display name under AES-SIV (deterministic authenticated encryption)
  with the index as associated data, base64url. Deterministic, so the same name sealed on two
  devices is the same string and the server's own de-duplication keeps one tag; it reveals
  only what the index already reveals (equal names). Added only when the whole name fits the
  server's 100-character limit: display names up to 44 UTF-8 bytes. Longer names are stored
  as ``bi:<index>`` alone and their display name stays on the devices (local tag cache).

The server learns how many tags a user has and when they are used, never their names.
Clients that send plain names (the web client does) keep them readable by the server: such
tags are listed here as ``private=False``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from reflective_client.crypto.derive import TAG_INDEX, TAG_NAME, derive
from reflective_domain.tags import MAX_TAG_NAME, display_tag_name, normalise_tag_name

PREFIX = "bi:"
INDEX_BYTES = 10  # 80 bits: 16 base32 characters, no padding
_SEPARATOR = "."
_AD = b"reflective-tag-name-v1:"


@dataclass(frozen=True, slots=True)
class PrivateTagName:
    """What a server tag name says once read with the user's keys."""

    index: str | None
    """The blind index (None for a plain, non-private name)."""
    display_name: str | None
    """The name to show, when the server name carries it (or it is a plain name)."""
    private: bool


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TagNames:
    """Makes and reads private tag names under the user's tag key."""

    def __init__(self, tag_key: bytes) -> None:
        if len(tag_key) != 32:
            raise ValueError("the tag key must be 32 bytes")
        self._index_key = derive(tag_key, TAG_INDEX)
        self._siv = AESSIV(derive(tag_key, TAG_NAME, 64))

    def __repr__(self) -> str:
        return "TagNames(<key hidden>)"

    def index(self, name: str) -> str:
        """The blind index of ``name``: equal for names the server would merge."""
        digest = hmac.new(
            self._index_key, normalise_tag_name(name).encode("utf-8"), hashlib.sha256
        ).digest()
        return base64.b32encode(digest[:INDEX_BYTES]).decode("ascii").lower()

    def server_name(self, name: str) -> str:
        """The ``name`` to send to ``POST /api/tags``."""
        shown = display_tag_name(name)
        index = self.index(shown)
        sealed = self._siv.encrypt(shown.encode("utf-8"), [_AD + index.encode("ascii")])
        full = f"{PREFIX}{index}{_SEPARATOR}{_b64url(sealed)}"
        return full if len(full) <= MAX_TAG_NAME else f"{PREFIX}{index}"

    def read(self, server_name: str) -> PrivateTagName:
        """Read a server tag name. A sealed name that does not open, or opens to a name of
        another index, is reported without a display name (tampered or another key)."""
        if not server_name.startswith(PREFIX):
            return PrivateTagName(None, server_name, private=False)
        index, _, sealed = server_name[len(PREFIX) :].partition(_SEPARATOR)
        if not sealed:
            return PrivateTagName(index, None, private=True)
        try:
            plain = self._siv.decrypt(_unb64url(sealed), [_AD + index.encode("ascii")])
            shown = plain.decode("utf-8")
        except (InvalidTag, binascii.Error, ValueError, UnicodeDecodeError):
            return PrivateTagName(index, None, private=True)
        if self.index(shown) != index:
            return PrivateTagName(index, None, private=True)
        return PrivateTagName(index, shown, private=True)
