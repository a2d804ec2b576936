from datetime import datetime, timedelta, timezone

from reflective_domain.streaks import writing_streak

UTC = timezone.utc
NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def days_ago(*days: int) -> list[datetime]:
    return [NOW - timedelta(days=d) for d in days]


def test_counts_consecutive_days_ending_today():
    assert writing_streak(days_ago(0, 1, 2, 4), "UTC", NOW) == 3


def test_a_streak_survives_until_today_ends():
    assert writing_streak(days_ago(1, 2), "UTC", NOW) == 2


def test_a_missed_day_ends_the_streak():
    assert writing_streak(days_ago(2, 3), "UTC", NOW) == 0


def test_several_entries_on_one_day_count_once():
    assert writing_streak(days_ago(0, 0, 0), "UTC", NOW) == 1


def test_days_are_the_users_local_days():
    # 23:30 UTC on the 9th is already the 10th in Tokyo, so Tokyo sees two days in a row.
    late = datetime(2026, 11, 9, 23, 30, tzinfo=UTC)
    early = datetime(2026, 11, 9, 1, 0, tzinfo=UTC)
    assert writing_streak([late, early], "Asia/Tokyo", NOW) == 2
    assert writing_streak([late, early], "UTC", NOW) == 1
