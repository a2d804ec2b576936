from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reflective_adapters.postgres.errors import storage_errors
from reflective_adapters.postgres.mappers import user_from_row
from reflective_adapters.postgres.schema import users
from reflective_domain.accounts import User


class PgUserDirectory:
    """Users by email, a page at a time, in a short read-only session of its own."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_factory

    async def list_users(self, *, after_email: str | None, limit: int) -> Sequence[User]:
        stmt = select(users).order_by(users.c.email).limit(limit)
        if after_email is not None:
            stmt = stmt.where(users.c.email > after_email)
        with storage_errors():
            async with self._sessions() as session:
                rows = (await session.execute(stmt)).all()
        return [user_from_row(row) for row in rows]
