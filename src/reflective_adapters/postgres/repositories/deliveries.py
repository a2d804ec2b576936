from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from reflective_adapters.postgres.schema import deliveries

# One statement of four parameters whatever the number of entries: the pairs travel as two
# arrays, so the statement is prepared once and never rebuilt for another page size.
_RECORD = text(
    "INSERT INTO deliveries (user_id, device_id, entry_id, revision)"
    " SELECT CAST(:user_id AS uuid), CAST(:device_id AS text), d.entry_id, d.revision"
    " FROM unnest(CAST(:entry_ids AS uuid[]), CAST(:revisions AS integer[]))"
    " AS d(entry_id, revision)"
    " ON CONFLICT (user_id, device_id, entry_id)"
    " DO UPDATE SET revision = greatest(deliveries.revision, excluded.revision)"
)


class PgDeliveries:
    def __init__(self, session: AsyncConnection) -> None:
        self._s = session

    async def record(
        self, user_id: uuid.UUID, device_id: str, revisions: Sequence[tuple[uuid.UUID, int]]
    ) -> None:
        # One row per entry (an INSERT .. ON CONFLICT may not touch a row twice), keeping the
        # newest revision both within the batch and against what is stored.
        newest: dict[uuid.UUID, int] = {}
        for entry_id, revision in revisions:
            newest[entry_id] = max(revision, newest.get(entry_id, revision))
        if not newest:
            return
        params = {
            "user_id": user_id,
            "device_id": device_id,
            "entry_ids": list(newest),
            "revisions": list(newest.values()),
        }
        await self._s.execute(_RECORD, params)

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
