"""A profile: one device's state in one directory (0700).

``local.sqlite3`` (entries, encrypted, and sync state), ``keys.json`` (see keystore) and
``session.json`` (server URL, email, tokens; 0600). ``--profile NAME`` lives under the
platform's config directory, ``--profile PATH`` (anything with a path separator) wherever
it points.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from reflective_client.files import private_dir, write_private
from reflective_client.keystore import KeyStore, open_keystore
from reflective_client.models import Tokens
from reflective_client.store import LocalStore

APP = "reflective"
DEFAULT_PROFILE = "default"
STORE_FILE = "local.sqlite3"
SESSION_FILE = "session.json"


def profile_dir(value: str | None) -> Path:
    raw = value or os.environ.get("REFLECTIVE_PROFILE") or DEFAULT_PROFILE
    if os.sep in raw or (os.altsep and os.altsep in raw) or raw.startswith((".", "~")):
        return Path(raw).expanduser().absolute()
    return Path(platformdirs.user_config_dir(APP)) / raw


@dataclass
class Session:
    server: str | None = None
    email: str | None = None
    tokens: Tokens | None = None

    def to_json(self) -> dict[str, Any]:
        tokens = None
        if self.tokens is not None:
            tokens = {
                "access_token": self.tokens.access_token,
                "refresh_token": self.tokens.refresh_token,
                "token_type": self.tokens.token_type,
            }
        return {"server": self.server, "email": self.email, "tokens": tokens}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Session:
        tokens = doc.get("tokens")
        return cls(doc.get("server"), doc.get("email"), _tokens(tokens) if tokens else None)


def _tokens(saved: dict[str, Any]) -> Tokens:
    return Tokens(
        access_token=str(saved["access_token"]),
        refresh_token=saved.get("refresh_token"),
        token_type=str(saved.get("token_type", "bearer")),
    )


class Profile:
    def __init__(self, directory: Path, keystore: KeyStore | None = None) -> None:
        self.directory = private_dir(directory)
        self.keystore: KeyStore = keystore or open_keystore(self.directory)
        self._store: LocalStore | None = None

    @property
    def store(self) -> LocalStore:
        if self._store is None:
            self._store = LocalStore(self.directory / STORE_FILE)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    @property
    def session_path(self) -> Path:
        return self.directory / SESSION_FILE

    def session(self) -> Session:
        try:
            return Session.from_json(json.loads(self.session_path.read_text()))
        except FileNotFoundError:
            return Session()
        except (ValueError, KeyError, TypeError):
            return Session()  # a damaged session only means logging in again

    def save_session(self, session: Session) -> None:
        write_private(self.session_path, json.dumps(session.to_json()).encode())

    def save_tokens(self, tokens: Tokens | None) -> None:
        session = self.session()
        session.tokens = tokens
        self.save_session(session)

    def wipe(self) -> None:
        """Remove this profile's local data: entries, session and keys."""
        self.close()
        self.keystore.delete()
        for name in (STORE_FILE, SESSION_FILE, f"{STORE_FILE}-journal", f"{STORE_FILE}-wal"):
            path = self.directory / name
            if path.exists():
                path.unlink()
