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
from reflective_adapters.postgres.poolers import pgbouncer_engine_options
from reflective_app.settings import Settings
from reflective_domain.ports import UnitOfWork

log = structlog.get_logger("reflective.database")


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
        if settings.migrate_on_start:
            await asyncio.to_thread(migrate.upgrade, url)
            log.debug("database_migrated", embedded=embedded)
        else:
            await asyncio.to_thread(check_schema_at_head, url)
        yield url
    finally:
        if embedded:
            await asyncio.to_thread(stop_embedded, settings.data_dir)


class SchemaMismatch(RuntimeError):
    """The database's schema is not the one this version of the code needs."""


def check_schema_at_head(url: str) -> None:
    """Raise SchemaMismatch unless the database is at the newest migration (used instead of
    migrating when MIGRATE_ON_START=false)."""
    current, head = migrate.current(url), migrate.head()
    if current != head:
        raise SchemaMismatch(
            f"the database schema is at {current or 'nothing (empty)'} but this version needs "
            f"{head}; run `reflective db upgrade` first (MIGRATE_ON_START=false)"
        )


async def open_engine(url: str, settings: Settings | None = None) -> AsyncIterator[AsyncEngine]:
    options = {}
    if settings is not None:
        options = {"pool_size": settings.db_pool_size, "max_overflow": settings.db_max_overflow}
        if settings.db_pgbouncer:
            options.update(pgbouncer_engine_options())
    engine = make_engine(url, **options)
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
