from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from reflective_adapters.postgres.mappers import entry_from_row, entry_values
from reflective_adapters.postgres.schema import entries, entry_revisions
from reflective_domain.entries import Entry
from reflective_domain.errors import AlreadyExists

_live = entries.c.content.is_not(None)


class PgEntries:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def get(self, user_id: uuid.UUID, entry_id: uuid.UUID) -> Entry | None:
        stmt = select(entries).where(entries.c.user_id == user_id, entries.c.id == entry_id)
        row = (await self._s.execute(stmt)).first()
        return entry_from_row(row) if row is not None else None

    async def add(self, entry: Entry) -> None:
        stmt = (
            insert(entries)
            .values(**entry_values(entry))
            .on_conflict_do_nothing(index_elements=[entries.c.user_id, entries.c.id])
            .returning(entries.c.id)
        )
        if (await self._s.execute(stmt)).first() is None:
            raise AlreadyExists("entry already exists")

    async def save(self, entry: Entry) -> None:
        values = entry_values(entry)
        stmt = insert(entries).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[entries.c.user_id, entries.c.id],
            set_={k: stmt.excluded[k] for k in values if k not in ("user_id", "id")},
        )
        await self._s.execute(stmt)

    async def remember_revision(self, entry: Entry, fingerprint: bytes) -> None:
        # The first revision a version was accepted as stays its answer.
        stmt = (
            insert(entry_revisions)
            .values(
                user_id=entry.user_id,
                entry_id=entry.id,
                fingerprint=fingerprint,
                revision=entry.revision,
            )
            .on_conflict_do_nothing()
        )
        await self._s.execute(stmt)

    async def revision_with(
        self, user_id: uuid.UUID, entry_id: uuid.UUID, fingerprint: bytes
    ) -> int | None:
        t = entry_revisions.c
        stmt = select(t.revision).where(
            t.user_id == user_id, t.entry_id == entry_id, t.fingerprint == fingerprint
        )
        return (await self._s.execute(stmt)).scalar_one_or_none()

    async def changes_after(self, user_id: uuid.UUID, change_seq: int, limit: int) -> list[Entry]:
        stmt = (
            select(entries)
            .where(entries.c.user_id == user_id, entries.c.change_seq > change_seq)
            .order_by(entries.c.change_seq)
            .limit(limit)
        )
        return [entry_from_row(row) for row in await self._s.execute(stmt)]

    async def list_live(
        self,
        user_id: uuid.UUID,
        *,
        synced_after: datetime | None,
        exclude_device: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Entry], int]:
        conditions = [entries.c.user_id == user_id, _live]
        if synced_after is not None:
            conditions.append(entries.c.synced_at > synced_after)
        if exclude_device is not None:
            conditions.append(entries.c.device_id != exclude_device)
        page = (
            select(entries)
            .where(*conditions)
            .order_by(entries.c.synced_at, entries.c.id)
            .limit(limit)
            .offset(offset)
        )
        total = select(func.count()).select_from(entries).where(*conditions)
        found = [entry_from_row(row) for row in await self._s.execute(page)]
        return found, int((await self._s.execute(total)).scalar_one())

    async def count_live(self, user_id: uuid.UUID) -> int:
        stmt = select(func.count()).select_from(entries).where(entries.c.user_id == user_id, _live)
        return int((await self._s.execute(stmt)).scalar_one())

    async def stored_bytes(self, user_id: uuid.UUID) -> int:
        size = func.octet_length(entries.c.content) + func.coalesce(
            func.octet_length(entries.c.embedding), 0
        )
        stmt = select(func.coalesce(func.sum(size), 0)).where(entries.c.user_id == user_id, _live)
        return int((await self._s.execute(stmt)).scalar_one())

    async def creation_times(self, user_id: uuid.UUID) -> list[datetime]:
        stmt = (
            select(entries.c.created_at)
            .where(entries.c.user_id == user_id, _live)
            .order_by(entries.c.created_at)
        )
        return list((await self._s.execute(stmt)).scalars())

    async def all(self, user_id: uuid.UUID) -> list[Entry]:
        stmt = select(entries).where(entries.c.user_id == user_id).order_by(entries.c.change_seq)
        return [entry_from_row(row) for row in await self._s.execute(stmt)]

    async def page_by_id(
        self, user_id: uuid.UUID, after: uuid.UUID | None, limit: int
    ) -> list[Entry]:
        stmt = select(entries).where(entries.c.user_id == user_id)
        if after is not None:
            stmt = stmt.where(entries.c.id > after)
        stmt = stmt.order_by(entries.c.id).limit(limit)
        return [entry_from_row(row) for row in await self._s.execute(stmt)]

    async def delete_all(self, user_id: uuid.UUID) -> int:
        stmt = entries.delete().where(entries.c.user_id == user_id).returning(_live)
        live = sum(1 for is_live in (await self._s.execute(stmt)).scalars() if is_live)
        await self._s.execute(entry_revisions.delete().where(entry_revisions.c.user_id == user_id))
        return live
