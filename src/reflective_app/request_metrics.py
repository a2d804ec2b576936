"""Prometheus request metrics, recorded by ``RequestMiddleware`` in the pass it already makes.

The same series Litestar's Prometheus middleware exports (``reflective_requests_total``,
``reflective_request_duration_seconds``, ``reflective_requests_in_progress``,
``reflective_requests_error_total``; labels method, path template, status code, app name),
without its per-request ``Request`` object, label dicts, send wrapper and ``labels()``
look-ups: the labelled children are kept per (method, route, status), a small, bounded set.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

APP_NAME = "reflective"
_LABELS = ["method", "path", "status_code", "app_name"]
_FIRST_ERROR_STATUS = 500

# Module level: prometheus_client refuses to register a series twice in one process, and
# tests build many apps.
_REQUESTS = Counter(f"{APP_NAME}_requests_total", "Total requests", _LABELS)
_DURATION = Histogram(
    f"{APP_NAME}_request_duration_seconds", "Request duration, in seconds", _LABELS
)
_IN_PROGRESS = Gauge(
    f"{APP_NAME}_requests_in_progress",
    "Total requests currently in progress",
    _LABELS,
    multiprocess_mode="livesum",
)
_ERRORS = Counter(f"{APP_NAME}_requests_error_total", "Total errors in requests", _LABELS)

_in_progress: dict[tuple[str, str], Gauge] = {}
_finished: dict[tuple[str, str, int], tuple[Counter, Histogram, Counter | None]] = {}


def in_progress(method: str, path: str) -> Gauge:
    """The in-progress gauge of a route (its status label is 200, as Litestar's is)."""
    key = (method, path)
    gauge = _in_progress.get(key)
    if gauge is None:
        gauge = _in_progress[key] = _IN_PROGRESS.labels(method, path, 200, APP_NAME)
    return gauge


def record(method: str, path: str, status: int, seconds: float) -> None:
    """Counts a finished request and observes its duration (errors: status 500 and above)."""
    key = (method, path, status)
    children = _finished.get(key)
    if children is None:
        values = (method, path, status, APP_NAME)
        error = _ERRORS.labels(*values) if status >= _FIRST_ERROR_STATUS else None
        children = _finished[key] = (_REQUESTS.labels(*values), _DURATION.labels(*values), error)
    count, duration, error = children
    if error is not None:
        error.inc()
    count.inc()
    duration.observe(seconds)
