from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from reflective_adapters.postgres.integrity import rowcount
from reflective_adapters.postgres.schema import packed_metric_uploads, packed_metrics
from reflective_domain.packed import (
    PACKED_ROW_OVERHEAD_BYTES,
    PACKED_UPLOAD_KEY_BYTES,
    PackedWindow,
)


def _window(row: Any) -> PackedWindow:
    return PackedWindow(row.user_id, row.metric_type, row.year, row.uploads, bytes(row.ciphertext))


class PgPackedMetrics:
    def __init__(self, session: AsyncConnection) -> None:
        self._s = session

    async def windows(
        self, user_id: uuid.UUID, keys: Sequence[tuple[str, int]]
    ) -> list[PackedWindow]:
        if not keys:
            return []
        p = packed_metrics.c
        stmt = select(packed_metrics).where(
            p.user_id == user_id, tuple_(p.metric_type, p.year).in_(list(keys))
        )
        return [_window(row) for row in await self._s.execute(stmt)]

    async def between(
        self, user_id: uuid.UUID, metric_type: str, first: int | None, last: int | None
    ) -> list[PackedWindow]:
        p = packed_metrics.c
        conditions = [p.user_id == user_id, p.metric_type == metric_type]
        if first is not None:
            conditions.append(p.year >= first)
        if last is not None:
            conditions.append(p.year <= last)
        stmt = select(packed_metrics).where(*conditions).order_by(p.year)
        return [_window(row) for row in await self._s.execute(stmt)]

    async def save(self, windows: Sequence[PackedWindow]) -> None:
        latest = {(w.user_id, w.metric_type, w.year): w for w in windows}
        if not latest:
            return
        stmt = insert(packed_metrics)
        stmt = stmt.on_conflict_do_update(
            index_elements=[
                packed_metrics.c.user_id,
                packed_metrics.c.metric_type,
                packed_metrics.c.year,
            ],
            set_={"uploads": stmt.excluded.uploads, "ciphertext": stmt.excluded.ciphertext},
        )
        await self._s.execute(
            stmt,
            [
                {
                    "user_id": w.user_id,
                    "metric_type": w.metric_type,
                    "year": w.year,
                    "uploads": w.uploads,
                    "ciphertext": w.ciphertext,
                }
                for w in latest.values()
            ],
        )

    async def known_upload_keys(self, user_id: uuid.UUID, keys: Sequence[bytes]) -> set[bytes]:
        if not keys:
            return set()
        u = packed_metric_uploads.c
        stmt = select(u.upload_key).where(u.user_id == user_id, u.upload_key.in_(list(keys)))
        return {bytes(key) for key in (await self._s.execute(stmt)).scalars()}

    async def add_upload_keys(self, user_id: uuid.UUID, keys: Sequence[bytes]) -> None:
        if keys:
            stmt = insert(packed_metric_uploads).on_conflict_do_nothing()
            await self._s.execute(
                stmt, [{"user_id": user_id, "upload_key": key} for key in dict.fromkeys(keys)]
            )

    async def stored_bytes(self, user_id: uuid.UUID) -> int:
        p, u = packed_metrics.c, packed_metric_uploads.c
        windows = (
            select(
                func.coalesce(
                    func.sum(func.octet_length(p.ciphertext) + PACKED_ROW_OVERHEAD_BYTES), 0
                )
            )
            .where(p.user_id == user_id)
            .scalar_subquery()
        )
        uploads = (
            select(func.count() * PACKED_UPLOAD_KEY_BYTES)
            .where(u.user_id == user_id)
            .scalar_subquery()
        )
        return int((await self._s.execute(select(windows + uploads))).scalar_one())

    async def all(self, user_id: uuid.UUID) -> list[PackedWindow]:
        p = packed_metrics.c
        stmt = select(packed_metrics).where(p.user_id == user_id).order_by(p.metric_type, p.year)
        return [_window(row) for row in await self._s.execute(stmt)]

    async def page(
        self, user_id: uuid.UUID, after: tuple[str, int] | None, limit: int
    ) -> list[PackedWindow]:
        p = packed_metrics.c
        stmt = select(packed_metrics).where(p.user_id == user_id)
        if after is not None:
            stmt = stmt.where(tuple_(p.metric_type, p.year) > tuple_(*after))
        stmt = stmt.order_by(p.metric_type, p.year).limit(limit)
        return [_window(row) for row in await self._s.execute(stmt)]

    async def delete_all(self, user_id: uuid.UUID) -> int:
        deleted = rowcount(
            await self._s.execute(
                packed_metrics.delete().where(packed_metrics.c.user_id == user_id)
            )
        )
        await self._s.execute(
            packed_metric_uploads.delete().where(packed_metric_uploads.c.user_id == user_id)
        )
        return deleted
