"""What the device measures about an entry, locally: word count and a sentiment score.

The sentiment is VADER's compound score (-1 .. 1): lexicon and rules ship with
``vaderSentiment``, nothing is sent anywhere. Only the encrypted numbers may leave the device.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

WORD_COUNT = "word_count"
SENTIMENT = "sentiment_score"
METRIC_TYPES = (WORD_COUNT, SENTIMENT)

# Letters/digits, with inner apostrophes and hyphens kept in one word ("don't", "well-being").
_WORD = re.compile(r"[^\W_]+(?:['\u2019-][^\W_]+)*")


@dataclass(frozen=True, slots=True)
class EntryMetrics:
    word_count: int
    sentiment: float

    def values(self) -> dict[str, float]:
        return {WORD_COUNT: float(self.word_count), SENTIMENT: self.sentiment}


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


@functools.cache
def _analyzer() -> Any:
    # Loading the lexicon takes ~0.1 s: once per process.
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment(text: str) -> float:
    if not text.strip():
        return 0.0
    return float(_analyzer().polarity_scores(text)["compound"])


def measure(text: str) -> EntryMetrics:
    return EntryMetrics(word_count(text), sentiment(text))
