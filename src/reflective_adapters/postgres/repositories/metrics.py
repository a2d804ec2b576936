from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import Date, Text, cast, func, literal, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from reflective_adapters.postgres.integrity import rowcount
from reflective_adapters.postgres.mappers import (
    metric_from_row,
    metric_values,
    rollup_from_row,
    rollup_values,
)
from reflective_adapters.postgres.schema import entries, metric_rollups
from reflective_adapters.postgres.schema import metrics as metrics_table
from reflective_domain.metrics import METRIC_ROW_OVERHEAD_BYTES, EncryptedMetric, Period, Rollup


def _utc_day(ts: Any) -> Any:
    """The UTC calendar day of a timestamptz column, as rollups key it."""
    return cast(func.timezone("UTC", ts), Date)


class PgMetrics:
    def __init__(self, session: AsyncConnection) -> None:
        self._s = session

    async def lock_writes(self, user_id: uuid.UUID) -> None:
        # A transaction-scoped advisory lock keyed by the user: metric writers of one user
        # queue on it; entry sync (which locks the user row) does not.
        key = func.hashtextextended(literal(f"metrics:{user_id}", Text), 0)
        await self._s.execute(select(func.pg_advisory_xact_lock(key)))

    async def add_many(self, metrics: Sequence[EncryptedMetric]) -> None:
        if metrics:
            # executemany: asyncpg pipelines one prepared INSERT, so ~330 KB ciphertexts never
            # pile up into one giant statement.
            await self._s.execute(metrics_table.insert(), [metric_values(m) for m in metrics])

    async def with_log_ids(
        self, user_id: uuid.UUID, log_ids: Sequence[str]
    ) -> list[EncryptedMetric]:
        if not log_ids:
            return []
        m = metrics_table.c
        stmt = select(metrics_table).where(m.user_id == user_id, m.log_id.in_(list(log_ids)))
        return [metric_from_row(row) for row in await self._s.execute(stmt)]

    async def of_entries(self, user_id: uuid.UUID, limit: int) -> list[EncryptedMetric]:
        m, e = metrics_table.c, entries.c
        stmt = (
            select(metrics_table)
            .where(
                m.user_id == user_id,
                m.log_id.in_(
                    select(cast(e.id, Text)).where(e.user_id == user_id).scalar_subquery()
                ),
            )
            .limit(limit)
        )
        return [metric_from_row(row) for row in await self._s.execute(stmt)]

    async def delete_many(self, user_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> None:
        if ids:
            m = metrics_table.c
            await self._s.execute(
                metrics_table.delete().where(m.user_id == user_id, m.id.in_(list(ids)))
            )

    async def delete_rollups(
        self, user_id: uuid.UUID, keys: Sequence[tuple[str, Period, date]]
    ) -> None:
        if not keys:
            return
        r = metric_rollups.c
        await self._s.execute(
            metric_rollups.delete().where(
                r.user_id == user_id,
                tuple_(r.metric_type, r.period, r.starts_on).in_(
                    [(kind, period.value, start) for kind, period, start in keys]
                ),
            )
        )

    async def stored_bytes(self, user_id: uuid.UUID) -> int:
        # octet_length of an out-of-line bytea reads its TOAST pointer, not the value.
        m = metrics_table.c
        stmt = select(
            func.coalesce(func.sum(func.octet_length(m.ciphertext) + METRIC_ROW_OVERHEAD_BYTES), 0)
        ).where(m.user_id == user_id)
        return int((await self._s.execute(stmt)).scalar_one())

    async def day_counts(
        self, user_id: uuid.UUID, metric_type: str, days: Sequence[date]
    ) -> dict[date, int]:
        if not days:
            return {}
        m = metrics_table.c
        day = _utc_day(m.ts)
        stmt = (
            select(day, func.count())
            .where(m.user_id == user_id, m.metric_type == metric_type, day.in_(list(days)))
            .group_by(day)
        )
        return {row[0]: int(row[1]) for row in await self._s.execute(stmt)}

    async def on_days(
        self, user_id: uuid.UUID, metric_type: str, days: Sequence[date]
    ) -> list[EncryptedMetric]:
        if not days:
            return []
        m = metrics_table.c
        stmt = select(metrics_table).where(
            m.user_id == user_id, m.metric_type == metric_type, _utc_day(m.ts).in_(list(days))
        )
        return [metric_from_row(row) for row in await self._s.execute(stmt)]

    async def without_day_rollup(
        self, user_id: uuid.UUID, metric_type: str, first: date, last: date
    ) -> list[EncryptedMetric]:
        m, r = metrics_table.c, metric_rollups.c
        start = datetime.combine(first, time(0), timezone.utc)
        end = datetime.combine(last + timedelta(days=1), time(0), timezone.utc)
        rolled = (
            select(r.starts_on)
            .where(
                r.user_id == user_id,
                r.metric_type == metric_type,
                r.period == Period.DAY.value,
                r.starts_on == _utc_day(m.ts),
            )
            .exists()
        )
        stmt = (
            select(metrics_table)
            .where(
                m.user_id == user_id,
                m.metric_type == metric_type,
                m.ts >= start,
                m.ts < end,
                ~rolled,
            )
            .order_by(m.ts, m.id)
        )
        return [metric_from_row(row) for row in await self._s.execute(stmt)]

    async def known_upload_keys(self, user_id: uuid.UUID, keys: Sequence[bytes]) -> set[bytes]:
        if not keys:
            return set()
        m = metrics_table.c
        stmt = select(m.upload_key).where(m.user_id == user_id, m.upload_key.in_(list(keys)))
        return {bytes(key) for key in (await self._s.execute(stmt)).scalars()}

    async def rollups(
        self, user_id: uuid.UUID, metric_type: str, period: Period, starts: Sequence[date]
    ) -> list[Rollup]:
        if not starts:
            return []
        r = metric_rollups.c
        stmt = select(metric_rollups).where(
            r.user_id == user_id,
            r.metric_type == metric_type,
            r.period == period.value,
            r.starts_on.in_(list(starts)),
        )
        found = {row.starts_on: rollup_from_row(row) for row in await self._s.execute(stmt)}
        return [found[s] for s in dict.fromkeys(starts) if s in found]

    async def rollups_between(
        self,
        user_id: uuid.UUID,
        metric_type: str,
        period: Period,
        first: date | None,
        last: date | None,
    ) -> list[Rollup]:
        r = metric_rollups.c
        conditions = [r.user_id == user_id, r.metric_type == metric_type, r.period == period.value]
        if first is not None:
            conditions.append(r.starts_on >= first)
        if last is not None:
            conditions.append(r.starts_on <= last)
        stmt = select(metric_rollups).where(*conditions).order_by(r.starts_on)
        return [rollup_from_row(row) for row in await self._s.execute(stmt)]

    async def save_rollups(self, rollups: Sequence[Rollup]) -> None:
        # Last one wins per key, as a replace would (and ON CONFLICT may touch a row only once).
        latest = {(x.user_id, x.metric_type, x.period, x.start): x for x in rollups}
        if not latest:
            return
        stmt = insert(metric_rollups)
        stmt = stmt.on_conflict_do_update(
            index_elements=[
                metric_rollups.c.user_id,
                metric_rollups.c.metric_type,
                metric_rollups.c.period,
                metric_rollups.c.starts_on,
            ],
            set_={"count": stmt.excluded["count"], "ciphertext": stmt.excluded.ciphertext},
        )
        await self._s.execute(stmt, [rollup_values(x) for x in latest.values()])

    async def in_range(
        self, user_id: uuid.UUID, metric_type: str, start: datetime, end: datetime
    ) -> list[EncryptedMetric]:
        m = metrics_table.c
        stmt = (
            select(metrics_table)
            .where(
                m.user_id == user_id,
                m.metric_type == metric_type,
                m.ts >= start,
                m.ts <= end,
            )
            .order_by(m.ts, m.id)
        )
        return [metric_from_row(row) for row in await self._s.execute(stmt)]

    async def count(self, user_id: uuid.UUID) -> int:
        stmt = (
            select(func.count())
            .select_from(metrics_table)
            .where(metrics_table.c.user_id == user_id)
        )
        return int((await self._s.execute(stmt)).scalar_one())

    async def all(self, user_id: uuid.UUID) -> list[EncryptedMetric]:
        stmt = (
            select(metrics_table)
            .where(metrics_table.c.user_id == user_id)
            .order_by(metrics_table.c.ts, metrics_table.c.id)
        )
        return [metric_from_row(row) for row in await self._s.execute(stmt)]

    async def page_by_id(
        self, user_id: uuid.UUID, after: uuid.UUID | None, limit: int
    ) -> list[EncryptedMetric]:
        stmt = select(metrics_table).where(metrics_table.c.user_id == user_id)
        if after is not None:
            stmt = stmt.where(metrics_table.c.id > after)
        stmt = stmt.order_by(metrics_table.c.id).limit(limit)
        return [metric_from_row(row) for row in await self._s.execute(stmt)]

    async def delete_all(self, user_id: uuid.UUID) -> int:
        deleted = rowcount(
            await self._s.execute(metrics_table.delete().where(metrics_table.c.user_id == user_id))
        )
        await self._s.execute(metric_rollups.delete().where(metric_rollups.c.user_id == user_id))
        return deleted
