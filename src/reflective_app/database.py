"""The database's life in the app: find it, migrate it, open and close the engine.

These are the container's async resources; they run in the app's startup and shutdown,
never at import.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from reflective_adapters.postgres import SqlAlchemyUnitOfWork, make_engine, migrate
from reflective_adapters.postgres.embedded import start_embedded, stop_embedded
from reflective_app.settings import Settings
from reflective_domain.ports import UnitOfWork

log = structlog.get_logger("reflective.database")

# Connections beyond the pool's size, opened only while it is exhausted and closed after use.
_OVERFLOW = 5


async def open_database(settings: Settings) -> AsyncIterator[str]:
    """Yield a migrated database's URL: DATABASE_URL, or the embedded server under the data
    directory (started here, released on shutdown).

    Safe with several workers starting at once: migrations run under a PostgreSQL advisory
    lock (see the migrations' env.py), so one migrates and the others find it done.
    """
    url = settings.database_url
    embedded = url is None
    if url is None:
        log.info("embedded_database_starting")
        url = await asyncio.to_thread(start_embedded, settings.data_dir)
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        log.info("database_migrated", embedded=embedded)
        yield url
    finally:
        if embedded:
            await asyncio.to_thread(stop_embedded, settings.data_dir)


async def open_engine(
    url: str, pool_size: int = 10, pool_timeout: float = 30.0
) -> AsyncIterator[AsyncEngine]:
    """``pool_size``: connections kept open, one for each request admitted at once (see
    ``admission``), so a busy worker never opens and drops connections per request; a few more
    may open for what admission does not hold back (readiness). ``pool_timeout``: how long a
    request may wait for a pooled connection (then 503)."""
    engine = make_engine(
        url, pool_size=pool_size, max_overflow=_OVERFLOW, pool_timeout=pool_timeout
    )
    try:
        yield engine
    finally:
        await engine.dispose()


def unit_of_work_factory(
    session_factory: async_sessionmaker[AsyncSession],
) -> Callable[[], UnitOfWork]:
    """The use cases' ``UnitOfWorkFactory``: a fresh unit of work per call."""

    def new_unit_of_work() -> UnitOfWork:
        return SqlAlchemyUnitOfWork(session_factory)

    return new_unit_of_work


async def ping(engine: AsyncEngine) -> None:
    """Raise unless the database answers a trivial query."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def empty_database(engine: AsyncEngine) -> None:
    """Delete every account; every other row belongs to one and goes with it (ON DELETE
    CASCADE), but for the sign-in throttle, which is emptied too. For development resets only."""
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM users"))
        await connection.execute(text("DELETE FROM login_attempts"))
