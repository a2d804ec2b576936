"""Encrypted metrics: upload (validated, rolled up per day), aggregate, delete."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from reflective_domain.errors import (
    ConcurrentUpdate,
    LimitExceeded,
    NotFound,
    ValidationFailed,
)
from reflective_domain.he_params import CkksParameters
from reflective_domain.metrics import (
    UTC,
    AggregationRequest,
    EncryptedMetric,
    Operation,
    Period,
    Rollup,
    check_metric_type,
    plan_aggregation,
    upload_key,
    utc,
)
from reflective_domain.ports import CiphertextValidator, HeAggregator, IdGenerator, UnitOfWork
from reflective_domain.ports.unit_of_work import UnitOfWorkFactory
from reflective_domain.tiers import CloudData
from reflective_domain.use_cases._guards import user_permitted


@dataclass(frozen=True, slots=True)
class MetricUpload:
    """One metric as a client sends it; ``log_id`` names the entry it measures, if any."""

    metric_type: str
    timestamp: datetime
    ciphertext: bytes
    log_id: str | None = None

    def __repr__(self) -> str:
        return f"MetricUpload({self.metric_type!r}, <{len(self.ciphertext)} bytes>)"


@dataclass(frozen=True, slots=True)
class MetricsStored:
    """How many metrics a batch held, and how many of them were new (the rest were resent)."""

    received: int
    new: int


_Part = tuple[bytes, int]  # an encrypted sum and how many metrics it holds


@dataclass(frozen=True, slots=True)
class MetricLimits:
    max_batch: int = 5000
    max_per_user: int = 100_000


class UploadMetrics:
    """Store a batch atomically, after every ciphertext passed validation under the user's own
    parameters, and fold it into the daily rollups in the same transaction."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        validator: CiphertextValidator,
        aggregator: HeAggregator,
        ids: IdGenerator,
        limits: MetricLimits | None = None,
    ) -> None:
        self._uow, self._validator, self._aggregator, self._ids = uow, validator, aggregator, ids
        self._limits = limits or MetricLimits()

    async def permit(self, user_id: uuid.UUID) -> None:
        """Refuse early (ForbiddenByTier) a user whose tier keeps no metrics, before a caller
        reads and decodes a possibly huge batch."""
        async with self._uow() as uow:
            await user_permitted(uow, user_id, CloudData.METRICS)

    async def __call__(self, user_id: uuid.UUID, items: Sequence[MetricUpload]) -> MetricsStored:
        if not items:
            raise ValidationFailed("metrics", "metrics must not be empty")
        if len(items) > self._limits.max_batch:
            raise LimitExceeded(f"at most {self._limits.max_batch} metrics per request")
        for index, item in enumerate(items):
            try:
                check_metric_type(item.metric_type)
                utc(item.timestamp)
            except ValidationFailed as exc:
                raise ValidationFailed(f"metrics.{index}.{exc.field}", exc.message) from exc
        # Validate outside the transaction: it is the slow part and needs no lock.
        async with self._uow() as uow:
            user = await user_permitted(uow, user_id, CloudData.METRICS)
        key = user.he_public_key
        assert key is not None  # a tier that keeps metrics always holds the key
        await self._validator.check_ciphertexts(key.parameters, [i.ciphertext for i in items])
        metrics = [
            EncryptedMetric(
                self._ids.new_id(),
                user_id,
                i.metric_type,
                i.timestamp,
                i.ciphertext,
                upload_key(i.log_id, i.metric_type, i.ciphertext),
            )
            for i in items
        ]
        async with self._uow() as uow:
            locked = await user_permitted(uow, user_id, CloudData.METRICS, lock=True)
            if locked.he_public_key != key:
                raise ConcurrentUpdate("the HE key changed during the upload; upload again")
            metrics = await self._not_yet_stored(uow, user_id, metrics)
            held = await uow.metrics.count(user_id)
            if held + len(metrics) > self._limits.max_per_user:
                raise LimitExceeded(
                    f"metric quota exceeded: at most {self._limits.max_per_user} metrics per "
                    f"account ({held} stored); delete metrics to make room"
                )
            if metrics:
                await uow.metrics.add_many(metrics)
                await self._roll_up(uow, key.parameters, user_id, metrics)
            await uow.commit()
        return MetricsStored(received=len(items), new=len(metrics))

    @staticmethod
    async def _not_yet_stored(
        uow: UnitOfWork, user_id: uuid.UUID, metrics: list[EncryptedMetric]
    ) -> list[EncryptedMetric]:
        """Drop resent metrics, so a retried batch is never counted twice."""
        keys = [m.upload_key for m in metrics if m.upload_key is not None]
        if not keys:
            return metrics
        seen = await uow.metrics.known_upload_keys(user_id, keys)
        fresh = []
        for metric in metrics:
            if metric.upload_key is not None:
                if metric.upload_key in seen:
                    continue
                seen.add(metric.upload_key)
            fresh.append(metric)
        return fresh

    async def _roll_up(
        self,
        uow: UnitOfWork,
        parameters: CkksParameters,
        user_id: uuid.UUID,
        metrics: Sequence[EncryptedMetric],
    ) -> None:
        """Fold the batch into its day and month rollups. The batch's sum for each day is
        computed once and added to both."""
        groups: dict[tuple[str, date], list[bytes]] = defaultdict(list)
        for metric in metrics:
            groups[(metric.metric_type, metric.day)].append(metric.ciphertext)
        day_parts: dict[tuple[str, date], list[_Part]] = {}
        month_parts: dict[tuple[str, date], list[_Part]] = defaultdict(list)
        for (metric_type, day), ciphertexts in groups.items():
            part = (await self._sum(parameters, ciphertexts), len(ciphertexts))
            day_parts[(metric_type, day)] = [part]
            month_parts[(metric_type, Period.MONTH.start_of(day))].append(part)
        updated: list[Rollup] = []
        for period, parts in ((Period.DAY, day_parts), (Period.MONTH, month_parts)):
            updated += await self._fold(uow, parameters, user_id, period, parts)
        await uow.metrics.save_rollups(updated)

    async def _fold(
        self,
        uow: UnitOfWork,
        parameters: CkksParameters,
        user_id: uuid.UUID,
        period: Period,
        parts: dict[tuple[str, date], list[_Part]],
    ) -> list[Rollup]:
        """Add each period's new parts to the rollup already held for it."""
        starts_by_type: dict[str, list[date]] = defaultdict(list)
        for metric_type, start in parts:
            starts_by_type[metric_type].append(start)
        folded: list[Rollup] = []
        for metric_type, starts in starts_by_type.items():
            held = await uow.metrics.rollups(user_id, metric_type, period, starts)
            old_by_start = {r.start: r for r in held}
            for start in starts:
                new = parts[(metric_type, start)]
                ciphertexts = [c for c, _ in new]
                count = sum(n for _, n in new)
                old = old_by_start.get(start)
                if old is not None:
                    ciphertexts.insert(0, old.ciphertext)
                    count += old.count
                total = await self._sum(parameters, ciphertexts)
                folded.append(Rollup(user_id, metric_type, period, start, count, total))
        return folded

    async def _sum(self, parameters: CkksParameters, ciphertexts: list[bytes]) -> bytes:
        if len(ciphertexts) == 1:
            return ciphertexts[0]
        return await self._aggregator.add(parameters, ciphertexts)


@dataclass(frozen=True, slots=True)
class AggregateResult:
    metric_type: str
    operation: Operation
    ciphertext: bytes
    count: int

    def __repr__(self) -> str:
        return f"AggregateResult({self.metric_type!r}, {self.operation.value}, count={self.count})"


class Aggregate:
    """Sum or average under encryption: whole days from rollups, cut edge days from raw
    metrics, so the work grows with the number of days, not of metrics."""

    def __init__(self, uow: UnitOfWorkFactory, aggregator: HeAggregator) -> None:
        self._uow, self._aggregator = uow, aggregator

    async def __call__(self, user_id: uuid.UUID, request: AggregationRequest) -> AggregateResult:
        plan = plan_aggregation(request.time_range)
        kind = request.metric_type
        rollups: list[Rollup] = []
        raw: list[EncryptedMetric] = []
        async with self._uow() as uow:
            user = await user_permitted(uow, user_id, CloudData.METRICS)
            if plan.all_months or plan.month_span is not None:
                first, last = plan.month_span or (None, None)
                rollups += await uow.metrics.rollups_between(
                    user_id, kind, Period.MONTH, first, last
                )
            for first_day, last_day in plan.day_spans:
                rollups += await uow.metrics.rollups_between(
                    user_id, kind, Period.DAY, first_day, last_day
                )
            for day in plan.edge_days:
                assert plan.time_range is not None
                start = max(plan.time_range.start, datetime.combine(day, time(0), UTC))
                end = min(
                    plan.time_range.end,
                    datetime.combine(day + timedelta(days=1), time(0), UTC)
                    - timedelta(microseconds=1),
                )
                raw += await uow.metrics.in_range(user_id, kind, start, end)
        count = sum(r.count for r in rollups) + len(raw)
        if count == 0:
            raise NotFound(f"No {kind} metrics found in the requested range")
        key = user.he_public_key
        assert key is not None
        parts = [r.ciphertext for r in rollups] + [m.ciphertext for m in raw]
        total = parts[0] if len(parts) == 1 else await self._aggregator.add(key.parameters, parts)
        if request.operation is Operation.AVERAGE:
            total = await self._aggregator.multiply_plain(key.parameters, total, 1.0 / count)
        return AggregateResult(kind, request.operation, total, count)


class DeleteAllMetrics:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(self, user_id: uuid.UUID) -> int:
        async with self._uow() as uow:
            await uow.users.lock(user_id)
            deleted = await uow.metrics.delete_all(user_id)
            await uow.commit()
        return deleted
