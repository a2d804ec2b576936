"""Per-endpoint request statistics for the load generator, and Markdown tables of them."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# Unexpected answers kept verbatim (per endpoint) for the report.
MAX_EXAMPLES = 3
BODY_SNIPPET = 300


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence (``q`` in 0..100)."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class EndpointStats:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.latencies)

    def add(self, status: str, seconds: float, expected: bool, example: str | None) -> None:
        self.latencies.append(seconds)
        self.statuses[status] += 1
        if not expected:
            self.errors += 1
            if example is not None and len(self.examples) < MAX_EXAMPLES:
                self.examples.append(example)

    def summary(self, wall_seconds: float) -> dict[str, float | int | str]:
        ordered = sorted(self.latencies)
        return {
            "count": self.count,
            "rps": self.count / wall_seconds if wall_seconds > 0 else math.nan,
            "p50_ms": percentile(ordered, 50) * 1000,
            "p95_ms": percentile(ordered, 95) * 1000,
            "p99_ms": percentile(ordered, 99) * 1000,
            "max_ms": (ordered[-1] if ordered else math.nan) * 1000,
            "errors": self.errors,
            "statuses": " ".join(f"{s}:{n}" for s, n in sorted(self.statuses.items())),
        }


class Recorder:
    """Every request's endpoint, status and latency, by phase (setup, steady, probe, verify)."""

    def __init__(self) -> None:
        self.phases: dict[str, dict[str, EndpointStats]] = {}

    def add(
        self,
        phase: str,
        endpoint: str,
        status: str,
        seconds: float,
        expected: bool,
        example: str | None = None,
    ) -> None:
        stats = self.phases.setdefault(phase, {}).setdefault(endpoint, EndpointStats())
        stats.add(status, seconds, expected, example)

    def errors(self, phases: Iterable[str] | None = None) -> int:
        chosen = self.phases if phases is None else {p: self.phases.get(p, {}) for p in phases}
        return sum(s.errors for by_endpoint in chosen.values() for s in by_endpoint.values())

    def examples(self) -> list[str]:
        return [
            f"[{phase}] {endpoint}: {example}"
            for phase, by_endpoint in self.phases.items()
            for endpoint, stats in by_endpoint.items()
            for example in stats.examples
        ]

    def summaries(self, phase: str, wall_seconds: float) -> dict[str, dict[str, float | int | str]]:
        by_endpoint = self.phases.get(phase, {})
        result = {name: by_endpoint[name].summary(wall_seconds) for name in sorted(by_endpoint)}
        if by_endpoint:
            total = EndpointStats()
            for stats in by_endpoint.values():
                total.latencies.extend(stats.latencies)
                total.statuses.update(stats.statuses)
                total.errors += stats.errors
            result["all"] = total.summary(wall_seconds)
        return result

    def table(self, phase: str, wall_seconds: float) -> str:
        return markdown_table(self.summaries(phase, wall_seconds))


def _fmt(value: float | int | str, digits: int = 1) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def markdown_table(summaries: dict[str, dict[str, float | int | str]]) -> str:
    header = (
        "| endpoint | count | req/s | p50 ms | p95 ms | p99 ms | max ms | errors | statuses |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---|"
    )
    rows = []
    for name, s in summaries.items():
        label = "**all**" if name == "all" else f"`{name}`"
        rows.append(
            f"| {label} | {_fmt(s['count'])} | {_fmt(s['rps'])} | {_fmt(s['p50_ms'])} "
            f"| {_fmt(s['p95_ms'])} | {_fmt(s['p99_ms'])} | {_fmt(s['max_ms'])} "
            f"| {_fmt(s['errors'])} | {s['statuses']} |"
        )
    return "\n".join([header, *rows])
