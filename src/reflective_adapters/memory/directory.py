from __future__ import annotations

import copy
from collections.abc import Sequence

from reflective_adapters.memory.store import MemoryStore
from reflective_domain.accounts import User


class MemoryUserDirectory:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    async def list_users(self, *, after_email: str | None, limit: int) -> Sequence[User]:
        found = sorted(self._store.tables.users.values(), key=lambda u: u.email)
        if after_email is not None:
            found = [u for u in found if u.email > after_email]
        return [copy.deepcopy(u) for u in found[:limit]]
