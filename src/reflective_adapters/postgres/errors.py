"""asyncpg and SQLAlchemy failures in the storage port's words (``reflective_domain.ports.
storage``): "the database cannot be reached or did not answer in time" becomes
``StorageUnavailable``, "PostgreSQL refused the value itself" becomes ``UnstorableValue``.

Applied where the adapter's work surfaces to its callers (the unit of work's enter, commit,
rollback and exit; the live-sync stores; the user directory; the readiness ping), so nothing
above the adapter walks a driver's exception chain. Anything else (a bug, a constraint the
adapter did not expect) passes through unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy import exc as sa_exc

from reflective_domain.ports.storage import StorageError, StorageUnavailable, UnstorableValue

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # connection refused, reset, DNS, timeouts
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,  # connection pool exhausted
    asyncpg.PostgresConnectionError,  # includes "connection does not exist"
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.TooManyConnectionsError,
)

# SQLSTATEs of the per-connection timeouts (see ``settings.timeout_connect_args``): the work
# may succeed in a moment, so they are "unavailable" like an outage.
_TIMED_OUT = {
    "55P03",  # lock_not_available: lock_timeout
    "57014",  # query_canceled: statement_timeout
    "25P03",  # idle_in_transaction_session_timeout
}

UNAVAILABLE_MESSAGE = "the database cannot be reached or did not answer in time"
UNSTORABLE_MESSAGE = "the database refused a value it cannot store"


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception it was raised from or during, each once."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not s for s in seen):
        seen.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return seen


def is_unstorable_data(exc: BaseException) -> bool:
    """True when PostgreSQL refused a value itself (SQLSTATE class 22, "data exception"):
    e.g. a NUL character, which no PostgreSQL text or jsonb value can hold."""
    return any(
        str(getattr(e, "sqlstate", "") or "").startswith("22") or isinstance(e, sa_exc.DataError)
        for e in _chain(exc)
    )


def is_database_unavailable(exc: BaseException) -> bool:
    """True when ``exc``, or an exception it was raised from, means the database is down or
    unreachable or timed out (rather than a bug or bad data)."""
    return any(
        isinstance(e, _UNAVAILABLE)
        or (isinstance(e, sa_exc.DBAPIError) and e.connection_invalidated)
        or str(getattr(e, "sqlstate", "") or "") in _TIMED_OUT
        for e in _chain(exc)
    )


def storage_error_for(exc: BaseException) -> StorageError | None:
    """The port's error for a driver failure, or None when ``exc`` is none of the two (or is
    already the port's). Unavailability wins: a connection lost mid-statement is not bad data."""
    if isinstance(exc, StorageError) or not isinstance(exc, Exception):
        return None
    if is_database_unavailable(exc):
        return StorageUnavailable(UNAVAILABLE_MESSAGE)
    if is_unstorable_data(exc):
        return UnstorableValue(UNSTORABLE_MESSAGE)
    return None


@contextmanager
def storage_errors() -> Iterator[None]:
    """Re-raise the driver's failures inside the block as the port's errors (the original kept
    as ``__cause__``); works around ``await``s too."""
    try:
        yield
    except Exception as exc:
        translated = storage_error_for(exc)
        if translated is None:
            raise
        raise translated from exc
