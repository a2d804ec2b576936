"""Metrics computed on the device."""

from __future__ import annotations

import pytest

from reflective_client.analysis import measure, sentiment, word_count


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("", 0),
        ("   \n\t ", 0),
        ("Today I walked to the lake.", 6),
        ("Don't stop — well-being matters!", 4),
        ("naïve café, 3 coffees", 4),
        ("雨の日", 1),
    ],
)
def test_word_count(text: str, count: int) -> None:
    assert word_count(text) == count


def test_sentiment_is_vader_compound() -> None:
    assert sentiment("I love this wonderful, happy day!") > 0.5
    assert sentiment("This is terrible, I hate it and feel awful.") < -0.5
    assert sentiment("") == 0.0
    assert -1.0 <= sentiment("The table is brown.") <= 1.0


def test_measure() -> None:
    metrics = measure("A good day.")
    assert metrics.word_count == 3 and metrics.sentiment > 0
    assert metrics.values() == {"word_count": 3.0, "sentiment_score": metrics.sentiment}
