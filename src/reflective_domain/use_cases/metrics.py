"""Encrypted metrics: upload (validated, rolled up per day), aggregate, delete."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from reflective_domain.accounts import User
from reflective_domain.errors import (
    ConcurrentUpdate,
    InvalidCiphertext,
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
    metric_bytes,
    normalize_log_id,
    plan_aggregation,
    upload_key,
    utc,
)
from reflective_domain.ports import CiphertextValidator, HeAggregator, IdGenerator, UnitOfWork
from reflective_domain.ports.unit_of_work import UnitOfWorkFactory
from reflective_domain.tiers import CloudData
from reflective_domain.use_cases._guards import check_caller, confirm_metric_key, user_permitted


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
    """How many metrics a batch held, how many of them were new (the rest were resent), and
    how many stored metrics the new ones replaced."""

    received: int
    new: int
    replaced: int = 0


@dataclass(frozen=True, slots=True)
class MetricLimits:
    max_batch: int = 100_000
    max_per_user: int = 100_000
    max_bytes_per_user: int = 4 * 1024**3
    chunk: int = 100
    """Metrics validated and written at a time: what an upload holds in memory."""


class RollupBook:
    """Keeps day and month rollups equal to the sum of the live metrics they cover: new
    metrics are added, replaced or retracted ones subtracted homomorphically, in the caller's
    transaction. A rollup whose count reaches zero is removed."""

    def __init__(self, aggregator: HeAggregator) -> None:
        self._aggregator = aggregator

    async def apply(
        self,
        uow: UnitOfWork,
        parameters: CkksParameters,
        user_id: uuid.UUID,
        added: Sequence[EncryptedMetric],
        removed: Sequence[EncryptedMetric] = (),
    ) -> None:
        if not added and not removed:
            return
        # Each day's added and removed ciphertexts are summed once and used for both periods.
        days: dict[tuple[str, date], tuple[list[bytes], list[bytes]]] = defaultdict(
            lambda: ([], [])
        )
        for metric in added:
            days[(metric.metric_type, metric.day)][0].append(metric.ciphertext)
        for metric in removed:
            days[(metric.metric_type, metric.day)][1].append(metric.ciphertext)
        day_deltas: dict[tuple[str, date], _Delta] = {}
        month_deltas: dict[tuple[str, date], list[_Delta]] = defaultdict(list)
        for (metric_type, day), (plus, minus) in days.items():
            delta = _Delta(
                await self._sum(parameters, plus),
                await self._sum(parameters, minus),
                len(plus) - len(minus),
            )
            day_deltas[(metric_type, day)] = delta
            month_deltas[(metric_type, Period.MONTH.start_of(day))].append(delta)
        for period, deltas in (
            (Period.DAY, {k: [v] for k, v in day_deltas.items()}),
            (Period.MONTH, month_deltas),
        ):
            await self._fold(uow, parameters, user_id, period, deltas)

    async def _fold(
        self,
        uow: UnitOfWork,
        parameters: CkksParameters,
        user_id: uuid.UUID,
        period: Period,
        deltas: dict[tuple[str, date], list[_Delta]],
    ) -> None:
        starts_by_type: dict[str, list[date]] = defaultdict(list)
        for metric_type, start in deltas:
            starts_by_type[metric_type].append(start)
        saved: list[Rollup] = []
        gone: list[tuple[str, Period, date]] = []
        for metric_type, starts in starts_by_type.items():
            if period is Period.DAY:
                await self._fold_days(uow, parameters, user_id, metric_type, starts, deltas)
                continue
            held = await uow.metrics.rollups(user_id, metric_type, period, starts)
            old_by_start = {r.start: r for r in held}
            for start in starts:
                parts = deltas[(metric_type, start)]
                old = old_by_start.get(start)
                count = (old.count if old else 0) + sum(d.count for d in parts)
                if count < 0 or (old is None and any(d.minus is not None for d in parts)):
                    raise ConcurrentUpdate("metric rollups are out of step; upload again")
                if count == 0:
                    if old is not None:
                        gone.append((metric_type, period, start))
                    continue
                plus = ([old.ciphertext] if old else []) + [
                    d.plus for d in parts if d.plus is not None
                ]
                minus = [d.minus for d in parts if d.minus is not None]
                if len(plus) == 1 and not minus:
                    total = plus[0]
                else:
                    total = await self._aggregator.combine(parameters, plus, minus)
                saved.append(Rollup(user_id, metric_type, period, start, count, total))
        if gone:
            await uow.metrics.delete_rollups(user_id, gone)
        if saved:
            await uow.metrics.save_rollups(saved)

    async def _fold_days(
        self,
        uow: UnitOfWork,
        parameters: CkksParameters,
        user_id: uuid.UUID,
        metric_type: str,
        days: list[date],
        deltas: dict[tuple[str, date], list[_Delta]],
    ) -> None:
        """Day rollups exist for days of two or more metrics only: a day of one metric is
        served by that metric itself (aggregation reads the raw metrics of whole days that
        have no rollup), so a sparse journal does not store every ciphertext twice. Called
        after the metric rows changed, so the counts read here are the new ones."""
        counts = await uow.metrics.day_counts(user_id, metric_type, days)
        held = {
            r.start: r for r in await uow.metrics.rollups(user_id, metric_type, Period.DAY, days)
        }
        rebuild = [d for d in days if counts.get(d, 0) >= 2 and d not in held]
        raw: dict[date, list[bytes]] = defaultdict(list)
        for metric in await uow.metrics.on_days(user_id, metric_type, rebuild):
            raw[metric.day].append(metric.ciphertext)
        saved: list[Rollup] = []
        gone: list[tuple[str, Period, date]] = []
        for day in days:
            count, old = counts.get(day, 0), held.get(day)
            if count < 2:
                if old is not None:
                    gone.append((metric_type, Period.DAY, day))
                continue
            if old is None:  # it held at most one metric before: made from what it holds
                total = await self._sum(parameters, raw[day])
            else:
                parts = deltas[(metric_type, day)]
                plus = [old.ciphertext] + [d.plus for d in parts if d.plus is not None]
                minus = [d.minus for d in parts if d.minus is not None]
                total = (
                    plus[0]
                    if len(plus) == 1 and not minus
                    else await self._aggregator.combine(parameters, plus, minus)
                )
            assert total is not None
            saved.append(Rollup(user_id, metric_type, Period.DAY, day, count, total))
        if gone:
            await uow.metrics.delete_rollups(user_id, gone)
        if saved:
            await uow.metrics.save_rollups(saved)

    async def _sum(self, parameters: CkksParameters, ciphertexts: list[bytes]) -> bytes | None:
        if not ciphertexts:
            return None
        if len(ciphertexts) == 1:
            return ciphertexts[0]
        return await self._aggregator.add(parameters, ciphertexts)

    async def retract(self, uow: UnitOfWork, user: User, metrics: Sequence[EncryptedMetric]) -> int:
        """Delete ``metrics`` and subtract them from their rollups."""
        if not metrics:
            return 0
        await uow.metrics.delete_many(user.id, [m.id for m in metrics])
        key = user.he_public_key
        if key is not None:  # (without a key no metrics are kept, nor rollups)
            await self.apply(uow, key.parameters, user.id, (), metrics)
        return len(metrics)

    async def retract_entries(
        self, uow: UnitOfWork, user_id: uuid.UUID, entry_ids: Sequence[uuid.UUID]
    ) -> int:
        """Retract the metrics of these entries. The caller holds the user's lock; the metric
        writers' lock is taken here. The user (with the HE key the rollups are under, a large
        read) is loaded only when there is something to retract."""
        await uow.metrics.lock_writes(user_id)
        found = await uow.metrics.with_log_ids(user_id, [str(i) for i in entry_ids])
        if not found:
            return 0
        user = await uow.users.get(user_id)
        return await self.retract(uow, user, found) if user is not None else 0


@dataclass(frozen=True, slots=True)
class _Delta:
    plus: bytes | None
    minus: bytes | None
    count: int


class UploadMetrics:
    """Store an upload atomically: every ciphertext validated under the user's own
    parameters, metrics of an entry replacing that entry's earlier ones of the same type, and
    the day and month rollups kept equal to the live metrics, all in one transaction.

    Items are read from an async iterable and handled ``limits.chunk`` at a time, so an
    upload of any size holds one chunk in memory.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        validator: CiphertextValidator,
        aggregator: HeAggregator,
        ids: IdGenerator,
        limits: MetricLimits | None = None,
    ) -> None:
        self._uow, self._validator, self._ids = uow, validator, ids
        self._book = RollupBook(aggregator)
        self._limits = limits or MetricLimits()

    async def permit(self, user_id: uuid.UUID, *, token_issued_at: datetime | None = None) -> None:
        """Refuse early (ForbiddenByTier) a user whose tier keeps no metrics, before a caller
        reads and decodes a possibly huge batch; the same read checks the access token."""
        async with self._uow() as uow:
            await user_permitted(uow, user_id, CloudData.METRICS, token_issued_at=token_issued_at)

    async def __call__(self, user_id: uuid.UUID, items: Sequence[MetricUpload]) -> MetricsStored:
        if len(items) > self._limits.max_batch:
            raise LimitExceeded(f"at most {self._limits.max_batch} metrics per request")

        async def each() -> AsyncIterator[MetricUpload]:
            for item in items:
                yield item

        return await self.stream(user_id, each())

    async def stream(self, user_id: uuid.UUID, items: AsyncIterable[MetricUpload]) -> MetricsStored:
        """Store every item of ``items`` or, on any error (including the iterable failing
        half-way, e.g. a client that disconnects), nothing. No transaction is opened before
        the first item has arrived, so a client that sends nothing holds no connection."""
        pending = aiter(items)
        try:
            first = await anext(pending)
        except StopAsyncIteration:
            raise ValidationFailed("metrics", "metrics must not be empty") from None

        async def every() -> AsyncIterator[MetricUpload]:
            yield first
            async for item in pending:
                yield item

        async with self._uow() as uow:
            user = await user_permitted(uow, user_id, CloudData.METRICS)
            key = user.he_public_key
            assert key is not None  # a tier that keeps metrics always holds the key
            await uow.metrics.lock_writes(user_id)
            upload = _Upload(
                user_id,
                key.parameters,
                count=await uow.metrics.count(user_id),
                # One quota for single-value and packed metrics together.
                size=await uow.metrics.stored_bytes(user_id)
                + await uow.packed_metrics.stored_bytes(user_id),
            )
            chunk: list[tuple[int, MetricUpload]] = []
            index = 0
            async for item in every():
                if index >= self._limits.max_batch:
                    raise LimitExceeded(f"at most {self._limits.max_batch} metrics per request")
                chunk.append((index, _checked(index, item)))
                index += 1
                if len(chunk) >= self._limits.chunk:
                    await self._write(uow, upload, chunk)
                    chunk = []
            if chunk:
                await self._write(uow, upload, chunk)
            if index == 0:
                raise ValidationFailed("metrics", "metrics must not be empty")
            await confirm_metric_key(uow, user_id, key)
            await uow.commit()
        return MetricsStored(received=index, new=upload.new, replaced=upload.replaced)

    async def _write(
        self, uow: UnitOfWork, upload: _Upload, chunk: list[tuple[int, MetricUpload]]
    ) -> None:
        first = chunk[0][0]
        try:
            stored = await self._validator.admit_ciphertexts(
                upload.parameters, [item.ciphertext for _, item in chunk]
            )
        except InvalidCiphertext as exc:
            raise InvalidCiphertext(exc.message, first + (exc.index or 0)) from exc
        # Within a chunk, a later metric of the same entry and type wins.
        latest: dict[tuple[str, str] | int, EncryptedMetric] = {}
        for (index, item), ciphertext in zip(chunk, stored, strict=True):
            metric = EncryptedMetric(
                self._ids.new_id(),
                upload.user_id,
                item.metric_type,
                item.timestamp,
                ciphertext,
                # Of the bytes sent, so that a resent metric is recognised.
                upload_key(item.log_id, item.metric_type, item.ciphertext),
                item.log_id,
            )
            slot: tuple[str, str] | int = (
                index if item.log_id is None else (item.log_id, item.metric_type)
            )
            latest.pop(slot, None)
            latest[slot] = metric
        metrics = list(latest.values())
        keys = [m.upload_key for m in metrics if m.upload_key is not None]
        seen = await uow.metrics.known_upload_keys(upload.user_id, keys) if keys else set()
        fresh = [m for m in metrics if m.upload_key is None or m.upload_key not in seen]
        named = {(m.log_id, m.metric_type) for m in fresh if m.log_id is not None}
        replaced: list[EncryptedMetric] = []
        if named:
            held = await uow.metrics.with_log_ids(
                upload.user_id, sorted({log_id for log_id, _ in named if log_id is not None})
            )
            replaced = [m for m in held if (m.log_id, m.metric_type) in named]
        upload.count += len(fresh) - len(replaced)
        upload.size += sum(metric_bytes(m) for m in fresh) - sum(metric_bytes(m) for m in replaced)
        self._check_quota(upload)
        if replaced:
            await uow.metrics.delete_many(upload.user_id, [m.id for m in replaced])
        if fresh:
            await uow.metrics.add_many(fresh)
        await self._book.apply(uow, upload.parameters, upload.user_id, fresh, replaced)
        upload.new += len(fresh)
        upload.replaced += len(replaced)

    def _check_quota(self, upload: _Upload) -> None:
        limits = self._limits
        if upload.count > limits.max_per_user:
            raise LimitExceeded(
                f"metric quota exceeded: at most {limits.max_per_user} metrics per account; "
                "delete metrics to make room"
            )
        if upload.size > limits.max_bytes_per_user:
            raise LimitExceeded(
                f"metric quota exceeded: at most {limits.max_bytes_per_user} bytes of metrics "
                "per account; delete metrics to make room"
            )


@dataclass(slots=True)
class _Upload:
    """What an upload in progress has done so far."""

    user_id: uuid.UUID
    parameters: CkksParameters
    count: int
    size: int
    new: int = 0
    replaced: int = 0


def _checked(index: int, item: MetricUpload) -> MetricUpload:
    try:
        check_metric_type(item.metric_type)
        timestamp = utc(item.timestamp)
        log_id = normalize_log_id(item.log_id)
    except ValidationFailed as exc:
        raise ValidationFailed(f"metrics.{index}.{exc.field}", exc.message) from exc
    return MetricUpload(item.metric_type, timestamp, item.ciphertext, log_id)


class RetractMetrics:
    """Remove the metrics of one entry (every type), subtracting them from the rollups."""

    def __init__(self, uow: UnitOfWorkFactory, aggregator: HeAggregator) -> None:
        self._uow = uow
        self._book = RollupBook(aggregator)

    async def __call__(
        self, user_id: uuid.UUID, log_id: str, *, token_issued_at: datetime | None = None
    ) -> int:
        try:
            normalized = normalize_log_id(log_id)
        except ValidationFailed as exc:
            raise ValidationFailed("log_id", exc.message) from exc
        assert normalized is not None
        async with self._uow() as uow:
            user = await user_permitted(
                uow, user_id, CloudData.METRICS, lock=True, token_issued_at=token_issued_at
            )
            await uow.metrics.lock_writes(user_id)
            found = await uow.metrics.with_log_ids(user_id, [normalized])
            retracted = await self._book.retract(uow, user, found)
            await uow.commit()
        return retracted


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

    async def __call__(
        self,
        user_id: uuid.UUID,
        request: AggregationRequest,
        *,
        token_issued_at: datetime | None = None,
    ) -> AggregateResult:
        plan = plan_aggregation(request.time_range)
        kind = request.metric_type
        rollups: list[Rollup] = []
        raw: list[EncryptedMetric] = []
        async with self._uow() as uow:
            user = await user_permitted(
                uow, user_id, CloudData.METRICS, token_issued_at=token_issued_at
            )
            if plan.all_months or plan.month_span is not None:
                first, last = plan.month_span or (None, None)
                rollups += await uow.metrics.rollups_between(
                    user_id, kind, Period.MONTH, first, last
                )
            for first_day, last_day in plan.day_spans:
                rollups += await uow.metrics.rollups_between(
                    user_id, kind, Period.DAY, first_day, last_day
                )
                # Days of a single metric keep no rollup: that metric is the day's sum.
                raw += await uow.metrics.without_day_rollup(user_id, kind, first_day, last_day)
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
        (ciphertext,) = await self._aggregator.for_client([total])
        return AggregateResult(kind, request.operation, ciphertext, count)


class DeleteAllMetrics:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(self, user_id: uuid.UUID, *, token_issued_at: datetime | None = None) -> int:
        async with self._uow() as uow:
            await check_caller(uow, user_id, token_issued_at, lock=True)
            await uow.metrics.lock_writes(user_id)
            deleted = await uow.metrics.delete_all(user_id)
            await uow.packed_metrics.delete_all(user_id)
            await uow.commit()
        return deleted
