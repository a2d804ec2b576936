"""The database's life in a server process: find it, migrate it, open and close the engine,
and the few statements that are about the database as a whole (the readiness ping, the
development reset).

The composition root (``reflective_app.container``) turns these into its async resources from
the settings; they run in the app's startup and shutdown, never at import.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from reflective_adapters.postgres import migrate
from reflective_adapters.postgres.embedded import start_embedded, stop_embedded
from reflective_adapters.postgres.engine import APPLICATION_NAME, make_engine
from reflective_adapters.postgres.errors import storage_errors
from reflective_adapters.postgres.poolers import pgbouncer_engine_options
from reflective_adapters.postgres.unit_of_work import SqlAlchemyUnitOfWork
from reflective_domain.ports import UnitOfWork

log = structlog.get_logger("reflective.database")


async def open_database(
    url: str | None, data_dir: Path, migrate_on_start: bool
) -> AsyncIterator[str]:
    """Yield a migrated database's URL: ``url``, or (None) the embedded server under
    ``data_dir`` (started here, released on shutdown).

    Safe with several workers starting at once: migrations run under a PostgreSQL advisory
    lock (see the migrations' env.py), so one migrates and the others find it done.
    """
    embedded = url is None
    if url is None:
        log.info("embedded_database_starting")
        url = await asyncio.to_thread(start_embedded, data_dir)
    try:
        if migrate_on_start:
            await asyncio.to_thread(migrate.upgrade, url)
            log.debug("database_migrated", embedded=embedded)
        else:
            await asyncio.to_thread(check_schema_at_head, url)
        yield url
    finally:
        if embedded:
            await asyncio.to_thread(stop_embedded, data_dir)


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


@dataclass(frozen=True, slots=True)
class PoolOptions:
    """The engine's pool and per-connection timeouts (the DB_* settings)."""

    pool_size: int
    max_overflow: int
    pool_timeout: float
    statement_timeout_ms: int
    lock_timeout_ms: int
    idle_in_transaction_timeout_ms: int
    command_timeout_seconds: float
    pgbouncer: bool = False


def timeout_connect_args(options: PoolOptions) -> dict[str, Any]:
    """Per-connection PostgreSQL timeouts: a statement, a lock wait and an idle transaction
    each end in an error (``StorageUnavailable``, answered 503 with Retry-After) instead of
    holding a request and its pooled connection for as long as something else holds a lock.
    asyncpg's ``command_timeout`` is the client-side backstop, should the server not answer
    at all."""
    server_settings = {"application_name": APPLICATION_NAME}
    if not options.pgbouncer:
        # PgBouncer refuses startup parameters it does not know: behind it, set these on the
        # database role instead (README, "Running in production").
        server_settings.update(
            statement_timeout=str(options.statement_timeout_ms),
            lock_timeout=str(options.lock_timeout_ms),
            idle_in_transaction_session_timeout=str(options.idle_in_transaction_timeout_ms),
        )
    return {
        "server_settings": server_settings,
        "command_timeout": options.command_timeout_seconds,
    }


async def open_engine(url: str, options: PoolOptions | None = None) -> AsyncIterator[AsyncEngine]:
    """The pool keeps ``pool_size`` connections (by default one for each request admitted at
    once, see the app's ``admission``, so a busy worker never opens and drops connections per
    request); a request waits at most ``pool_timeout`` for one (then ``StorageUnavailable``)."""
    kwargs: dict[str, Any] = {}
    if options is not None:
        kwargs = {
            "pool_size": options.pool_size,
            "max_overflow": options.max_overflow,
            "pool_timeout": options.pool_timeout,
            "connect_args": timeout_connect_args(options),
        }
        if options.pgbouncer:
            pgbouncer = pgbouncer_engine_options()
            kwargs["connect_args"] = {
                **pgbouncer.pop("connect_args", {}),
                **kwargs["connect_args"],
            }
            kwargs.update(pgbouncer)
    engine = make_engine(url, **kwargs)
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


class PgDatabase:
    """The database as a whole, for operations: the readiness probe (``StorageProbe``) and the
    development reset."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def ping(self) -> None:
        """Raise unless the database answers a query on a real table: ``users``, which every
        authenticated request reads (a lock on it, or a missing schema, means not ready)."""
        with storage_errors():
            async with self._engine.connect() as connection:
                await connection.execute(text("SELECT 1 FROM users LIMIT 1"))

    async def empty(self) -> None:
        """Delete every account; every other row belongs to one and goes with it (ON DELETE
        CASCADE), but for the sign-in throttle, which is emptied too. For development resets
        only."""
        with storage_errors():
            async with self._engine.begin() as connection:
                await connection.execute(text("DELETE FROM users"))
                await connection.execute(text("DELETE FROM login_attempts"))
