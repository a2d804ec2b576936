"""The SDK's packed arithmetic in plaintext: deltas between ledgers add up to the journal as
it is, and range sums read back exactly what the days hold."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from reflective_client.packed import deltas, range_total
from reflective_client.store import Contribution
from reflective_domain.packed import COUNT_OFFSET, SLOTS_USED, slot_of

START = date(2023, 12, 1)  # the journals below cross two turns of a year and a leap day
SPAN = 800

days = st.integers(0, SPAN).map(lambda n: START + timedelta(days=n))
contributions = st.builds(
    Contribution,
    days,
    st.integers(0, 5000).map(float),
    st.floats(-1, 1, allow_nan=False).map(lambda x: round(x, 4)),
)
ledgers = st.dictionaries(st.sampled_from([f"e{i}" for i in range(12)]), contributions)


def _apply(
    years: dict[tuple[str, int], list[float]], change: dict[tuple[str, int], list[float]]
) -> None:
    for key, slots in change.items():
        held = years.setdefault(key, [0.0] * SLOTS_USED)
        for i, value in enumerate(slots):
            held[i] += value


@settings(max_examples=150, deadline=None)
@given(st.lists(ledgers, min_size=1, max_size=6), days, days)
def test_deltas_of_any_sequence_of_states_sum_to_the_last_state(
    states: list[dict[str, Contribution]], a: date, b: date
) -> None:
    # Each state is the journal after some writes, edits (value or day) and deletions; the
    # server only ever receives the deltas between consecutive states.
    server: dict[tuple[str, int], list[float]] = {}
    held: dict[str, Contribution] = {}
    for state in states:
        _apply(server, deltas(held, state))
        held = state
    first, last = min(a, b), max(a, b)
    words = {year: slots for (kind, year), slots in server.items() if kind == "word_count"}
    got = range_total(words, first, last)
    inside = [c for c in held.values() if first <= c.day <= last]
    assert got.count == len(inside)
    assert abs(got.total - sum(c.word_count for c in inside)) < 1e-6
    moods = {year: slots for (kind, year), slots in server.items() if kind == "sentiment_score"}
    assert abs(range_total(moods, first, last).total - sum(c.sentiment for c in inside)) < 1e-6


def test_nothing_changed_sends_nothing_and_an_edit_is_its_difference() -> None:
    entry = Contribution(date(2025, 3, 4), 10.0, 0.5)
    assert deltas({"e": entry}, {"e": entry}) == {}
    edited = deltas({"e": entry}, {"e": Contribution(date(2025, 3, 4), 4.0, 0.5)})
    assert list(edited) == [("word_count", 2025)]  # the mood did not change: no upload
    slots = edited[("word_count", 2025)]
    assert slots[slot_of(entry.day)] == -6.0 and slots[COUNT_OFFSET + slot_of(entry.day)] == 0
    removed = deltas({"e": entry}, {})[("sentiment_score", 2025)]
    assert removed[slot_of(entry.day)] == -0.5 and removed[COUNT_OFFSET + slot_of(entry.day)] == -1
