from __future__ import annotations

import uuid
from typing import Protocol

from reflective_domain.sessions import AccessClaims


class PasswordHasher(Protocol):
    """Slow, salted password hashing. Async so an adapter can keep it off the event loop."""

    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool:
        """True when ``password`` matches; never raises for a mismatch."""
        ...

    async def burn(self, password: str) -> None:
        """Spend the time a verification costs, for unknown accounts (equal timing)."""
        ...


class TokenService(Protocol):
    """Issues and reads short-lived access tokens, and mints opaque refresh tokens."""

    @property
    def access_ttl_seconds(self) -> int: ...

    def issue_access(self, user_id: uuid.UUID, session_id: uuid.UUID | None = None) -> str:
        """An access token for ``user_id``, naming the session (refresh-token family)."""
        ...

    def read_access(self, token: str) -> AccessClaims:
        """What a valid token says; raises AuthenticationFailed otherwise."""
        ...

    def new_refresh_token(self) -> str: ...
