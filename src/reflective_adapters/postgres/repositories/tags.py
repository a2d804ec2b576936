from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Update, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from reflective_adapters.postgres.integrity import violated_constraint
from reflective_adapters.postgres.mappers import tag_from_row, tag_values
from reflective_adapters.postgres.schema import tags, users
from reflective_domain.errors import AlreadyExists
from reflective_domain.tags import Tag, tag_size

_NAME_UNIQUE = "uq_tags_user_id_name_key"


def _add_bytes(user_id: uuid.UUID, delta: int) -> Update:
    stored = users.c.stored_bytes
    return update(users).where(users.c.id == user_id).values(stored_bytes=stored + delta)


class PgTags:
    def __init__(self, session: AsyncConnection) -> None:
        self._s = session

    async def add_or_get(self, tag: Tag) -> tuple[Tag, bool]:
        inserted = (
            insert(tags)
            .values(**tag_values(tag))
            .on_conflict_do_nothing(index_elements=[tags.c.user_id, tags.c.name_key])
            .returning(*tags.c)
            .cte("inserted")
        )
        # The created tag's bytes join the counter in the insert's own statement.
        counted = (
            _add_bytes(tag.user_id, tag.size).where(exists(select(inserted.c.id))).cte("counted")
        )
        insert_new = select(inserted).add_cte(counted)
        find_existing = select(tags).where(
            tags.c.user_id == tag.user_id, tags.c.name_key == tag.key
        )
        # A concurrent insert of the same name makes ours wait, then do nothing; the select then
        # sees the winner's committed row. Loop only if that row is deleted in between.
        while True:
            row = (await self._s.execute(insert_new)).first()
            if row is not None:
                return tag_from_row(row), True
            row = (await self._s.execute(find_existing)).first()
            if row is not None:
                return tag_from_row(row), False

    async def get(self, user_id: uuid.UUID, tag_id: uuid.UUID) -> Tag | None:
        stmt = select(tags).where(tags.c.user_id == user_id, tags.c.id == tag_id)
        row = (await self._s.execute(stmt)).first()
        return tag_from_row(row) if row is not None else None

    async def list(
        self, user_id: uuid.UUID, limit: int | None = None, offset: int = 0
    ) -> list[Tag]:
        stmt = (
            select(tags)
            .where(tags.c.user_id == user_id)
            .order_by(tags.c.name_key, tags.c.id)
            .limit(limit)
            .offset(offset)
        )
        return [tag_from_row(row) for row in await self._s.execute(stmt)]

    async def count(self, user_id: uuid.UUID) -> int:
        stmt = select(func.count()).select_from(tags).where(tags.c.user_id == user_id)
        return int((await self._s.execute(stmt)).scalar_one())

    async def stored_bytes(self, user_id: uuid.UUID) -> int:
        stmt = select(tags.c.name, tags.c.color, tags.c.name_key).where(tags.c.user_id == user_id)
        rows = await self._s.execute(stmt)
        return sum(tag_size(row.name, row.color, row.name_key) for row in rows)

    async def save(self, tag: Tag, stored_delta: int = 0) -> None:
        values = tag_values(tag)
        upsert = insert(tags).values(**values)
        upsert = upsert.on_conflict_do_update(
            index_elements=[tags.c.user_id, tags.c.id],
            set_={k: upsert.excluded[k] for k in values if k not in ("user_id", "id")},
        )
        stmt: Any = upsert
        if stored_delta:
            # A rename's change of size moves the counter in the same statement.
            stmt = _add_bytes(tag.user_id, stored_delta).add_cte(
                upsert.returning(tags.c.id).cte("saved")
            )
        try:
            async with self._s.begin_nested():
                await self._s.execute(stmt)
        except IntegrityError as exc:
            if violated_constraint(exc) == _NAME_UNIQUE:
                raise AlreadyExists(f"a tag named {tag.name!r} already exists") from None
            raise

    async def delete(self, user_id: uuid.UUID, tag_id: uuid.UUID) -> bool:
        stmt = tags.delete().where(tags.c.user_id == user_id, tags.c.id == tag_id)
        return await self._delete(user_id, stmt) > 0

    async def delete_unused_since(self, user_id: uuid.UUID, cutoff: datetime) -> int:
        stmt = tags.delete().where(
            tags.c.user_id == user_id,
            func.coalesce(tags.c.last_used_at, tags.c.created_at) <= cutoff,
        )
        return await self._delete(user_id, stmt)

    async def _delete(self, user_id: uuid.UUID, stmt: Any) -> int:
        # The sizes come back with the deleted rows, so the domain's rule (Tag.size) prices
        # them; the counter then moves in a second statement.
        returned = stmt.returning(tags.c.name, tags.c.color, tags.c.name_key)
        gone = (await self._s.execute(returned)).all()
        freed = sum(tag_size(row.name, row.color, row.name_key) for row in gone)
        if freed:
            await self._s.execute(_add_bytes(user_id, -freed))
        return len(gone)
