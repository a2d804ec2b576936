"""Reading accounts in bulk, for administrators (not part of any request's unit of work)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from reflective_domain.accounts import User


class UserDirectory(Protocol):
    async def list_users(self, *, after_email: str | None, limit: int) -> Sequence[User]:
        """Up to ``limit`` users ordered by email, starting after ``after_email``."""
        ...
