from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from reflective_adapters.postgres.schema import deliveries

# Rows per INSERT: one round trip each, well under PostgreSQL's 32767 parameters.
_CHUNK = 1000


class PgDeliveries:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def record(
        self, user_id: uuid.UUID, device_id: str, revisions: Sequence[tuple[uuid.UUID, int]]
    ) -> None:
        # One row per entry (an INSERT .. ON CONFLICT may not touch a row twice), keeping the
        # newest revision both within the batch and against what is stored.
        newest: dict[uuid.UUID, int] = {}
        for entry_id, revision in revisions:
            newest[entry_id] = max(revision, newest.get(entry_id, revision))
        rows = [
            {"user_id": user_id, "device_id": device_id, "entry_id": e, "revision": r}
            for e, r in newest.items()
        ]
        for start in range(0, len(rows), _CHUNK):
            stmt = insert(deliveries).values(rows[start : start + _CHUNK])
            stmt = stmt.on_conflict_do_update(
                index_elements=[
                    deliveries.c.user_id,
                    deliveries.c.device_id,
                    deliveries.c.entry_id,
                ],
                set_={"revision": func.greatest(deliveries.c.revision, stmt.excluded.revision)},
            )
            await self._s.execute(stmt)

    async def delivered_revision(
        self, user_id: uuid.UUID, device_id: str, entry_id: uuid.UUID
    ) -> int | None:
        t = deliveries.c
        stmt = select(t.revision).where(
            t.user_id == user_id, t.device_id == device_id, t.entry_id == entry_id
        )
        return (await self._s.execute(stmt)).scalar_one_or_none()

    async def delete_all(self, user_id: uuid.UUID) -> None:
        await self._s.execute(deliveries.delete().where(deliveries.c.user_id == user_id))
