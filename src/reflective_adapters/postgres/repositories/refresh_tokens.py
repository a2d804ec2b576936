from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from reflective_adapters.postgres.mappers import refresh_token_from_row, refresh_token_values
from reflective_adapters.postgres.schema import refresh_tokens
from reflective_domain.sessions import RefreshToken

_t = refresh_tokens.c


class PgRefreshTokens:
    def __init__(self, session: AsyncConnection) -> None:
        self._s = session

    async def add(self, token: RefreshToken) -> None:
        await self._s.execute(refresh_tokens.insert().values(**refresh_token_values(token)))

    async def by_hash(self, token_hash: bytes) -> RefreshToken | None:
        # Locked until commit: two requests presenting the same token take turns, so the second
        # sees it already used (a replay) instead of both rotating it.
        stmt = select(refresh_tokens).where(_t.token_hash == token_hash).with_for_update()
        row = (await self._s.execute(stmt)).first()
        return refresh_token_from_row(row) if row is not None else None

    async def save(self, token: RefreshToken) -> None:
        values = refresh_token_values(token)
        stmt = insert(refresh_tokens).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[_t.id],
            set_={k: stmt.excluded[k] for k in values if k != "id"},
        )
        await self._s.execute(stmt)

    async def revoke_family(self, family_id: uuid.UUID, now: datetime) -> None:
        stmt = (
            update(refresh_tokens)
            .where(_t.family_id == family_id, _t.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        await self._s.execute(stmt)

    async def revoke_all(self, user_id: uuid.UUID, now: datetime) -> None:
        stmt = (
            update(refresh_tokens)
            .where(_t.user_id == user_id, _t.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        await self._s.execute(stmt)

    @staticmethod
    def _usable(user_id: uuid.UUID, now: datetime) -> tuple[Any, ...]:
        return (
            _t.user_id == user_id,
            _t.used_at.is_(None),
            _t.revoked_at.is_(None),
            _t.expires_at > now,
        )

    async def live(
        self, user_id: uuid.UUID, now: datetime, *, limit: int | None = None, offset: int = 0
    ) -> list[RefreshToken]:
        stmt = (
            select(refresh_tokens)
            .where(*self._usable(user_id, now))
            .order_by(func.coalesce(_t.session_started_at, _t.issued_at).desc(), _t.id)
            .offset(offset)
            .limit(limit)
        )
        return [refresh_token_from_row(row) for row in await self._s.execute(stmt)]

    async def count_live(self, user_id: uuid.UUID, now: datetime) -> int:
        stmt = select(func.count()).select_from(refresh_tokens).where(*self._usable(user_id, now))
        return int((await self._s.execute(stmt)).scalar_one())
