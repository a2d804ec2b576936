"""Refresh-token families: rotation on every use, and reuse detection.

Refresh tokens are opaque random strings. The server keeps only their SHA-256, so a database
leak yields nothing that can be presented. Each sign-in starts a family; every refresh retires
the presented token and issues its successor in the same family. Presenting a retired token
means it was stolen or replayed, so the whole family is revoked.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime


def hash_refresh_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(slots=True)
class RefreshToken:
    id: uuid.UUID
    user_id: uuid.UUID
    family_id: uuid.UUID
    token_hash: bytes
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None
    # The session (this family) as the user sees it: named at sign-in, started then.
    device_name: str | None = None
    session_started_at: datetime | None = None

    def __repr__(self) -> str:
        return f"RefreshToken(id={self.id}, family={self.family_id}, used={self.used_at})"

    def is_usable(self, now: datetime) -> bool:
        return self.used_at is None and self.revoked_at is None and now < self.expires_at

    def is_replay(self) -> bool:
        """Already rotated away yet presented again."""
        return self.used_at is not None and self.revoked_at is None

    def mark_used(self, now: datetime) -> None:
        self.used_at = now


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int

    def __repr__(self) -> str:
        return f"TokenPair(<hidden>, expires_in={self.expires_in})"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a verified access token says."""

    user_id: uuid.UUID
    issued_at: datetime
    session_id: uuid.UUID | None = None  # the refresh-token family it was issued in


MAX_DEVICE_NAME = 100


def session_name(raw: str | None) -> str | None:
    """A sign-in's name as shown in the session list: printable, at most 100 characters."""
    if raw is None:
        return None
    name = "".join(ch for ch in raw if ch.isprintable()).strip()[:MAX_DEVICE_NAME]
    return name or None


@dataclass(frozen=True, slots=True)
class Session:
    """One sign-in (a refresh-token family) while it can still be refreshed. ``last_used_at``
    is its last sign-in or refresh; using an access token does not move it."""

    id: uuid.UUID
    device_name: str | None
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, token: RefreshToken) -> Session:
        """The session whose live (unused, unrevoked) refresh token is ``token``."""
        return cls(
            id=token.family_id,
            device_name=token.device_name,
            created_at=token.session_started_at or token.issued_at,
            last_used_at=token.issued_at,
            expires_at=token.expires_at,
        )
