from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from reflective_adapters.postgres.schema import login_attempts
from reflective_domain.throttling import LoginAttempts


def _from_row(row: Any) -> LoginAttempts:
    return LoginAttempts(row.key, row.failures, row.window_started_at, row.locked_until)


class PgLoginAttempts:
    def __init__(self, session: AsyncConnection) -> None:
        self._s = session

    async def get(self, key: bytes) -> LoginAttempts | None:
        row = (
            await self._s.execute(select(login_attempts).where(login_attempts.c.key == key))
        ).first()
        return _from_row(row) if row is not None else None

    async def get_for_update(self, key: bytes, now: datetime) -> LoginAttempts:
        # Create the row if missing, then lock it: concurrent failures count one by one.
        await self._s.execute(
            insert(login_attempts)
            .values(key=key, failures=0, window_started_at=now, locked_until=None)
            .on_conflict_do_nothing(index_elements=[login_attempts.c.key])
        )
        row = (
            await self._s.execute(
                select(login_attempts).where(login_attempts.c.key == key).with_for_update()
            )
        ).one()
        return _from_row(row)

    async def save(self, attempts: LoginAttempts) -> None:
        values = {
            "failures": attempts.failures,
            "window_started_at": attempts.window_started_at,
            "locked_until": attempts.locked_until,
        }
        await self._s.execute(
            insert(login_attempts)
            .values(key=attempts.key, **values)
            .on_conflict_do_update(index_elements=[login_attempts.c.key], set_=values)
        )

    async def prune(self, before: datetime, limit: int) -> int:
        stale = (
            select(login_attempts.c.key)
            .where(
                login_attempts.c.window_started_at < before,
                or_(
                    login_attempts.c.locked_until.is_(None),
                    login_attempts.c.locked_until < before,
                ),
            )
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        result = await self._s.execute(
            delete(login_attempts).where(login_attempts.c.key.in_(stale.scalar_subquery()))
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def clear(self, key: bytes) -> None:
        await self._s.execute(delete(login_attempts).where(login_attempts.c.key == key))
