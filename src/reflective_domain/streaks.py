"""Writing streaks: consecutive days with an entry, in the user's timezone."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from datetime import datetime, time, timedelta

STREAK_WINDOW_DAYS = 64
"""How many recent days of entries a streak is first computed from."""


def streak_window_start(now: datetime, timezone: str, days: int) -> datetime:
    """The start of the local day ``days - 1`` days before today: entries since then decide
    any streak shorter than ``days - 1`` days."""
    tz = zoneinfo.ZoneInfo(timezone)
    first = now.astimezone(tz).date() - timedelta(days=days - 1)
    return datetime.combine(first, time(0), tz)


def writing_streak(entry_times: Iterable[datetime], timezone: str, now: datetime) -> int:
    """Consecutive local days with at least one entry, ending today, or yesterday when today
    has none yet (a streak is alive until a whole day passes without writing)."""
    tz = zoneinfo.ZoneInfo(timezone)
    days = {moment.astimezone(tz).date() for moment in entry_times}
    today = now.astimezone(tz).date()
    day = today if today in days else today - timedelta(days=1)
    streak = 0
    while day in days:
        streak += 1
        day -= timedelta(days=1)
    return streak
