"""Encrypted metrics, daily encrypted rollups and aggregation requests.

A metric is one CKKS ciphertext (one value in slot 0) the server can add but never read.
Rollups hold, per user, metric type and UTC day, the encrypted sum and the count of that day's
metrics, so a query adds O(days) ciphertexts instead of O(metrics).
"""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from reflective_domain.errors import ValidationFailed

UTC = timezone.utc
_METRIC_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def check_metric_type(raw: str) -> str:
    if not _METRIC_TYPE.match(raw):
        raise ValidationFailed(
            "metric_type", "metric_type must be 1..64 of a-z, 0-9 and _, starting with a letter"
        )
    return raw


def utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValidationFailed("timestamp", "timestamps need a timezone")
    return moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class EncryptedMetric:
    id: uuid.UUID
    user_id: uuid.UUID
    metric_type: str
    timestamp: datetime
    ciphertext: bytes

    def __post_init__(self) -> None:
        check_metric_type(self.metric_type)
        object.__setattr__(self, "timestamp", utc(self.timestamp))

    @property
    def day(self) -> date:
        return self.timestamp.date()

    def __repr__(self) -> str:
        return (
            f"EncryptedMetric({self.metric_type!r}, {self.timestamp.isoformat()}, "
            f"<{len(self.ciphertext)} bytes>)"
        )


@dataclass(frozen=True, slots=True)
class DailyRollup:
    """The encrypted sum and the count of one user's metrics of one type on one UTC day."""

    user_id: uuid.UUID
    metric_type: str
    day: date
    count: int
    ciphertext: bytes

    def __repr__(self) -> str:
        return f"DailyRollup({self.metric_type!r}, {self.day}, count={self.count})"


class Operation(enum.Enum):
    SUM = "sum"
    AVERAGE = "average"


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Inclusive at both ends."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", utc(self.start))
        object.__setattr__(self, "end", utc(self.end))
        if self.end < self.start:
            raise ValidationFailed("time_range", "time_range end is before its start")

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment <= self.end


@dataclass(frozen=True, slots=True)
class AggregationRequest:
    metric_type: str
    operation: Operation
    time_range: TimeRange | None = None

    def __post_init__(self) -> None:
        check_metric_type(self.metric_type)


@dataclass(frozen=True, slots=True)
class AggregationPlan:
    """Which rollup days to add whole, and which edge days to read raw metrics for.

    ``all_days``: no range, every rollup counts. Otherwise ``whole_days`` is an inclusive
    span of days served by rollups (None when the range covers no whole day) and
    ``edge_days`` are days the range cuts, served by raw metrics filtered by ``time_range``.
    """

    all_days: bool
    whole_days: tuple[date, date] | None
    edge_days: tuple[date, ...]
    time_range: TimeRange | None


_DAY_END = time(23, 59, 59, 999999)


def plan_aggregation(time_range: TimeRange | None) -> AggregationPlan:
    """Split a range into whole UTC days (served by rollups) and cut edge days (raw metrics)."""
    if time_range is None:
        return AggregationPlan(True, None, (), None)
    first, last = time_range.start.date(), time_range.end.date()
    lo, hi = first, last
    edges: list[date] = []
    if time_range.start.time() != time(0):
        edges.append(first)
        lo = first + timedelta(days=1)
    if time_range.end.time() != _DAY_END:
        if last not in edges:
            edges.append(last)
        hi = last - timedelta(days=1)
    whole = (lo, hi) if lo <= hi else None
    return AggregationPlan(False, whole, tuple(edges), time_range)


MAX_METRICS_PER_BATCH = 5000
