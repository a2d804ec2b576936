"""Statistics the server computes blind and only this device can read: sums and averages of
the encrypted metrics, overall and per week (``aggregate`` with a time range)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from reflective_client.analysis import SENTIMENT, WORD_COUNT
from reflective_client.errors import NotFoundError
from reflective_client.http import AsyncReflectiveClient
from reflective_client.wire import UTC
from reflective_protocol.encryption import Operation

_DAY_END = time(23, 59, 59, 999999)


@dataclass(frozen=True, slots=True)
class Summary:
    metric_type: str
    count: int
    total: float
    average: float


@dataclass(frozen=True, slots=True)
class Week:
    start: date
    entries: int
    words: float
    sentiment: float | None


@dataclass(frozen=True, slots=True)
class Stats:
    words: Summary | None
    sentiment: Summary | None
    weeks: list[Week]


def week_starts(count: int, today: date) -> list[date]:
    """The Mondays of the last ``count`` weeks, oldest first, this week included."""
    monday = today - timedelta(days=today.weekday())
    return [monday - timedelta(weeks=n) for n in range(count - 1, -1, -1)]


def week_range(start: date) -> tuple[datetime, datetime]:
    """Monday 00:00 to Sunday 23:59:59.999999 UTC (the server's ranges are inclusive)."""
    return (
        datetime.combine(start, time(0), UTC),
        datetime.combine(start + timedelta(days=6), _DAY_END, UTC),
    )


class StatsReader:
    def __init__(self, api: AsyncReflectiveClient, ckks: object) -> None:
        self.api = api
        self.ckks = ckks  # CkksKeys: decrypts what the server sends back

    async def _decrypted(
        self,
        metric_type: str,
        operation: Operation,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> tuple[int, float] | None:
        try:
            result = await self.api.aggregate(metric_type, operation, start, end)
        except NotFoundError:
            return None  # nothing in range
        return result.count, self.ckks.decrypt(result.encrypted_result)  # type: ignore[attr-defined]

    async def summary(self, metric_type: str) -> Summary | None:
        total = await self._decrypted(metric_type, "sum")
        average = await self._decrypted(metric_type, "average")
        if total is None or average is None:
            return None
        return Summary(metric_type, total[0], total[1], average[1])

    async def week(self, start: date) -> Week:
        begin, end = week_range(start)
        words = await self._decrypted(WORD_COUNT, "sum", begin, end)
        mood = await self._decrypted(SENTIMENT, "average", begin, end)
        return Week(
            start,
            0 if words is None else words[0],
            0.0 if words is None else words[1],
            None if mood is None else mood[1],
        )

    async def read(self, weeks: int = 6, today: date | None = None) -> Stats:
        today = today or datetime.now(UTC).date()
        return Stats(
            await self.summary(WORD_COUNT),
            await self.summary(SENTIMENT),
            [await self.week(start) for start in week_starts(weeks, today)],
        )
