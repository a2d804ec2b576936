"""The database's life in the app: find it, migrate it, open and close the engine.

These are the container's async resources; they run in the app's startup and shutdown,
never at import.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from reflective_adapters.postgres import SqlAlchemyUnitOfWork, make_engine, migrate
from reflective_adapters.postgres.embedded import start_embedded, stop_embedded
from reflective_adapters.postgres.engine import APPLICATION_NAME
from reflective_adapters.postgres.poolers import pgbouncer_engine_options
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
        if settings.migrate_on_start:
            await asyncio.to_thread(migrate.upgrade, url)
            log.debug("database_migrated", embedded=embedded)
        else:
            await asyncio.to_thread(check_schema_at_head, url)
        yield url
    finally:
        if embedded:
            await asyncio.to_thread(stop_embedded, settings.data_dir)


def timeout_connect_args(settings: Settings) -> dict[str, Any]:
    """Per-connection PostgreSQL timeouts: a statement, a lock wait and an idle transaction
    each end in an error (answered 503 with Retry-After) instead of holding a request and its
    pooled connection for as long as something else holds a lock. asyncpg's
    ``command_timeout`` is the client-side backstop, should the server not answer at all."""
    server_settings = {"application_name": APPLICATION_NAME}
    if not settings.db_pgbouncer:
        # PgBouncer refuses startup parameters it does not know: behind it, set these on the
        # database role instead (README, "Running in production").
        server_settings.update(
            statement_timeout=str(settings.db_statement_timeout_ms),
            lock_timeout=str(settings.db_lock_timeout_ms),
            idle_in_transaction_session_timeout=str(settings.db_idle_in_transaction_timeout_ms),
        )
    return {
        "server_settings": server_settings,
        "command_timeout": settings.db_command_timeout_seconds,
    }


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
    """The pool keeps ``DB_POOL_SIZE`` connections (by default one for each request admitted at
    once, see ``admission``, so a busy worker never opens and drops connections per request);
    a request waits at most ``ADMISSION_WAIT_SECONDS`` for one (then 503)."""
    options: dict[str, Any] = {}
    if settings is not None:
        options = {
            "pool_size": settings.db_pool_size,
            "max_overflow": settings.db_max_overflow,
            "pool_timeout": settings.admission_wait_seconds,
            "connect_args": timeout_connect_args(settings),
        }
        if settings.db_pgbouncer:
            pgbouncer = pgbouncer_engine_options()
            options["connect_args"] = {
                **pgbouncer.pop("connect_args", {}),
                **options["connect_args"],
            }
            options.update(pgbouncer)
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
    """Raise unless the database answers a query on a real table: ``users``, which every
    authenticated request reads (a lock on it, or a missing schema, means not ready)."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1 FROM users LIMIT 1"))


async def empty_database(engine: AsyncEngine) -> None:
    """Delete every account; every other row belongs to one and goes with it (ON DELETE
    CASCADE), but for the sign-in throttle, which is emptied too. For development resets only."""
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM users"))
        await connection.execute(text("DELETE FROM login_attempts"))
