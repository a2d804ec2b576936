from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from reflective_adapters.postgres.mappers import (
    conflict_from_row,
    conflict_values,
    entry_from_row,
)
from reflective_adapters.postgres.schema import conflicts
from reflective_domain.entries import Conflict, Entry
from reflective_domain.errors import AlreadyExists

_open = conflicts.c.resolved_at.is_(None)
_oldest_first = (conflicts.c.detected_at, conflicts.c.id)
_mine = conflicts.c.user_id == bindparam("user_id")
# A page with the number open in all (a window over every open conflict).
_LIST_OPEN = (
    select(conflicts, func.count().over().label("total_open"))
    .where(_mine, _open)
    .order_by(*_oldest_first)
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
)
_COUNT_OPEN = select(func.count()).select_from(conflicts).where(_mine, _open)
# Listing is showing: one statement confirms a whole page against the entries' current
# revisions and returns those entries (the remote sides shown), whatever the page size.
_CONFIRM_LISTED = text(
    "UPDATE conflicts AS c SET remote_revision = e.revision"
    " FROM entries AS e"
    " WHERE c.user_id = CAST(:user_id AS uuid) AND c.id = ANY(CAST(:conflict_ids AS uuid[]))"
    " AND c.resolved_at IS NULL AND e.user_id = c.user_id AND e.id = c.entry_id"
    " RETURNING e.*"
)


class PgConflicts:
    def __init__(self, session: AsyncConnection) -> None:
        self._s = session

    async def get(self, user_id: uuid.UUID, conflict_id: uuid.UUID) -> Conflict | None:
        stmt = select(conflicts).where(
            conflicts.c.user_id == user_id, conflicts.c.id == conflict_id
        )
        row = (await self._s.execute(stmt)).first()
        return conflict_from_row(row) if row is not None else None

    async def open_for_entry(self, user_id: uuid.UUID, entry_id: uuid.UUID) -> Conflict | None:
        stmt = select(conflicts).where(
            conflicts.c.user_id == user_id, conflicts.c.entry_id == entry_id, _open
        )
        row = (await self._s.execute(stmt)).first()
        return conflict_from_row(row) if row is not None else None

    async def add(self, conflict: Conflict) -> None:
        # The partial unique index keeps one open conflict per entry even across transactions.
        stmt = (
            insert(conflicts)
            .values(**conflict_values(conflict))
            .on_conflict_do_nothing(
                index_elements=[conflicts.c.user_id, conflicts.c.entry_id], index_where=_open
            )
            .returning(conflicts.c.id)
        )
        if (await self._s.execute(stmt)).first() is None:
            raise AlreadyExists("entry already has an open conflict")

    async def save(self, conflict: Conflict) -> None:
        values = conflict_values(conflict)
        stmt = insert(conflicts).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[conflicts.c.user_id, conflicts.c.id],
            set_={k: stmt.excluded[k] for k in values if k not in ("user_id", "id")},
        )
        await self._s.execute(stmt)

    async def list_open(
        self, user_id: uuid.UUID, *, limit: int, offset: int = 0
    ) -> tuple[list[Conflict], int]:
        params = {"user_id": user_id, "limit": limit, "offset": offset}
        rows = (await self._s.execute(_LIST_OPEN, params)).all()
        if rows:
            return [conflict_from_row(row) for row in rows], int(rows[0].total_open)
        count = await self._s.execute(_COUNT_OPEN, {"user_id": user_id})
        return [], int(count.scalar_one())

    async def confirm_listed(
        self, user_id: uuid.UUID, conflict_ids: Sequence[uuid.UUID]
    ) -> list[Entry]:
        if not conflict_ids:
            return []
        params = {"user_id": user_id, "conflict_ids": list(conflict_ids)}
        return [entry_from_row(row) for row in await self._s.execute(_CONFIRM_LISTED, params)]

    async def all(self, user_id: uuid.UUID) -> list[Conflict]:
        stmt = select(conflicts).where(conflicts.c.user_id == user_id).order_by(*_oldest_first)
        return [conflict_from_row(row) for row in await self._s.execute(stmt)]

    async def page_by_id(
        self, user_id: uuid.UUID, after: uuid.UUID | None, limit: int
    ) -> list[Conflict]:
        stmt = select(conflicts).where(conflicts.c.user_id == user_id)
        if after is not None:
            stmt = stmt.where(conflicts.c.id > after)
        stmt = stmt.order_by(conflicts.c.id).limit(limit)
        return [conflict_from_row(row) for row in await self._s.execute(stmt)]

    async def delete_all(self, user_id: uuid.UUID) -> int:
        stmt = conflicts.delete().where(conflicts.c.user_id == user_id).returning(_open)
        return sum(1 for was_open in (await self._s.execute(stmt)).scalars() if was_open)
