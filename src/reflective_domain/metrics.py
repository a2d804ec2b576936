"""Encrypted metrics, daily encrypted rollups and aggregation requests.

A metric is one CKKS ciphertext (one value in slot 0) the server can add but never read.
Rollups hold, per user, metric type and UTC day, the encrypted sum and the count of that day's
metrics, so a query adds O(days) ciphertexts instead of O(metrics).
"""

from __future__ import annotations

import enum
import hashlib
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
    """``upload_key`` identifies a resent upload (see ``upload_key``); None when the client
    named no entry for it."""

    id: uuid.UUID
    user_id: uuid.UUID
    metric_type: str
    timestamp: datetime
    ciphertext: bytes
    upload_key: bytes | None = None
    log_id: str | None = None
    """The entry the metric measures; a later upload for the same entry and type replaces
    this metric, and deleting the entry retracts it."""

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


MAX_LOG_ID_LENGTH = 200


def normalize_log_id(raw: str | None) -> str | None:
    """The entry id a metric names, in one spelling: a UUID in its canonical lowercase form
    (so it matches the entry's own id), anything else as given."""
    if raw is None:
        return None
    raw = raw.strip()
    if not raw or len(raw) > MAX_LOG_ID_LENGTH:
        raise ValidationFailed("log_id", f"log_id must be 1..{MAX_LOG_ID_LENGTH} characters")
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return raw


def upload_key(log_id: str | None, metric_type: str, ciphertext: bytes) -> bytes | None:
    """What makes an upload the same upload: the entry it measures (``log_id``), its type and
    its exact ciphertext. Encryption is randomized, so equal bytes mean a resend (a client
    retrying a batch whose answer it never got), never a new measurement."""
    if log_id is None:
        return None
    h = hashlib.sha256()
    for part in (log_id.encode(), metric_type.encode(), ciphertext):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.digest()


class Period(enum.Enum):
    """The span a rollup covers: one UTC day, or one UTC calendar month."""

    DAY = "day"
    MONTH = "month"

    def start_of(self, day: date) -> date:
        return day if self is Period.DAY else day.replace(day=1)


def next_month(start: date) -> date:
    """The first day of the next month; ``date.max`` for December 9999, which has none."""
    if (start.year, start.month) == (date.max.year, date.max.month):
        return date.max
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


@dataclass(frozen=True, slots=True)
class Rollup:
    """The encrypted sum and the count of one user's metrics of one type over one period."""

    user_id: uuid.UUID
    metric_type: str
    period: Period
    start: date
    count: int
    ciphertext: bytes

    def __repr__(self) -> str:
        return f"Rollup({self.metric_type!r}, {self.period.value} {self.start}, count={self.count})"


class Operation(enum.Enum):
    SUM = "sum"
    AVERAGE = "average"


# A day inside datetime's range at each end, so a plan can always step a day past its range.
EARLIEST = datetime(1, 1, 2, tzinfo=timezone.utc)
LATEST = datetime(9999, 12, 30, tzinfo=timezone.utc)


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
        if self.start < EARLIEST or self.end > LATEST:
            raise ValidationFailed(
                "time_range", "time_range is out of range (0001-01-02 to 9999-12-30 UTC)"
            )

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment <= self.end


@dataclass(frozen=True, slots=True)
class AggregationRequest:
    metric_type: str
    operation: Operation
    time_range: TimeRange | None = None

    def __post_init__(self) -> None:
        check_metric_type(self.metric_type)


DaySpan = tuple[date, date]


@dataclass(frozen=True, slots=True)
class AggregationPlan:
    """What to add for a range: month rollups, day rollups, and raw metrics of cut edge days.

    ``all_months``: no range, every month rollup counts. Otherwise ``month_span`` is an
    inclusive span of month starts wholly inside the range, ``day_spans`` inclusive spans of
    whole days outside those months, and ``edge_days`` the days the range cuts, served by raw
    metrics filtered by ``time_range``. A year is at most 12 months, ~60 days and 2 edges.
    """

    all_months: bool
    month_span: DaySpan | None
    day_spans: tuple[DaySpan, ...]
    edge_days: tuple[date, ...]
    time_range: TimeRange | None


_DAY_END = time(23, 59, 59, 999999)


def _whole_days(time_range: TimeRange) -> tuple[DaySpan | None, tuple[date, ...]]:
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
    return ((lo, hi) if lo <= hi else None), tuple(edges)


def plan_aggregation(time_range: TimeRange | None) -> AggregationPlan:
    """Cover a range with as few ciphertexts as the rollups allow."""
    if time_range is None:
        return AggregationPlan(True, None, (), (), None)
    whole, edges = _whole_days(time_range)
    if whole is None:
        return AggregationPlan(False, None, (), edges, time_range)
    lo, hi = whole
    first_month = lo if lo.day == 1 else next_month(lo)
    # The month of ``hi`` counts whole only when ``hi`` is its last day. (``hi`` is at most
    # 9999-12-29: the day after it always exists.)
    after_last = hi.replace(day=1)
    if (hi + timedelta(days=1)).day == 1:
        after_last = hi + timedelta(days=1)
    if first_month >= after_last:
        return AggregationPlan(False, None, (whole,), edges, time_range)
    last_month = after_last - timedelta(days=1)
    spans = []
    if lo < first_month:
        spans.append((lo, first_month - timedelta(days=1)))
    if after_last <= hi:
        spans.append((after_last, hi))
    month_span = (first_month, last_month.replace(day=1))
    return AggregationPlan(False, month_span, tuple(spans), edges, time_range)


MAX_METRICS_PER_BATCH = 5000

METRIC_ROW_OVERHEAD_BYTES = 128
"""What one stored metric costs beyond its ciphertext (row, index entries), for the quota."""


def metric_bytes(metric: EncryptedMetric) -> int:
    """How much of a user's metric quota one stored metric uses."""
    return len(metric.ciphertext) + METRIC_ROW_OVERHEAD_BYTES
