from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from reflective_adapters.postgres.integrity import rowcount, violated_constraint
from reflective_adapters.postgres.mappers import tag_from_row, tag_values
from reflective_adapters.postgres.schema import tags
from reflective_domain.errors import AlreadyExists
from reflective_domain.tags import Tag

_NAME_UNIQUE = "uq_tags_user_id_name_key"


class PgTags:
    def __init__(self, session: AsyncConnection) -> None:
        self._s = session

    async def add_or_get(self, tag: Tag) -> tuple[Tag, bool]:
        insert_new = (
            insert(tags)
            .values(**tag_values(tag))
            .on_conflict_do_nothing(index_elements=[tags.c.user_id, tags.c.name_key])
            .returning(*tags.c)
        )
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

    async def save(self, tag: Tag) -> None:
        values = tag_values(tag)
        stmt = insert(tags).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[tags.c.user_id, tags.c.id],
            set_={k: stmt.excluded[k] for k in values if k not in ("user_id", "id")},
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
        return rowcount(await self._s.execute(stmt)) > 0

    async def delete_unused_since(self, user_id: uuid.UUID, cutoff: datetime) -> int:
        stmt = tags.delete().where(
            tags.c.user_id == user_id,
            func.coalesce(tags.c.last_used_at, tags.c.created_at) <= cutoff,
        )
        return rowcount(await self._s.execute(stmt))
