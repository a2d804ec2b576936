"""Recognising "the database cannot be reached" (or did not answer in time), wherever in the
stack it surfaced."""

from __future__ import annotations

import asyncpg
from sqlalchemy import exc as sa_exc

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # connection refused, reset, DNS, timeouts
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,  # connection pool exhausted
    asyncpg.PostgresConnectionError,  # includes "connection does not exist"
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.TooManyConnectionsError,
)

# SQLSTATEs of the per-connection timeouts (see ``database.timeout_connect_args``): the work
# may succeed in a moment, so they answer 503 with Retry-After like an outage.
_TIMED_OUT = {
    "55P03",  # lock_not_available: lock_timeout
    "57014",  # query_canceled: statement_timeout
    "25P03",  # idle_in_transaction_session_timeout
}


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
    e.g. a NUL character, which no PostgreSQL text or jsonb value can hold. Bad input, not a
    server fault; the transaction was rolled back, so nothing was written."""
    return any(
        str(getattr(e, "sqlstate", "") or "").startswith("22") or isinstance(e, sa_exc.DataError)
        for e in _chain(exc)
    )


def is_database_unavailable(exc: BaseException) -> bool:
    """True when ``exc``, or an exception it was raised from, means the database is down or
    unreachable (rather than a bug or bad data)."""
    return any(
        isinstance(e, _UNAVAILABLE)
        or (isinstance(e, sa_exc.DBAPIError) and e.connection_invalidated)
        or str(getattr(e, "sqlstate", "") or "") in _TIMED_OUT
        for e in _chain(exc)
    )
