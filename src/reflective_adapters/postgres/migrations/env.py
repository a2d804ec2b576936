"""Alembic environment: async engine (asyncpg), URL from the caller or DATABASE_URL.

Where the URL comes from, first found wins: ``config.attributes["url"]`` (the programmatic API
in ``reflective_adapters.postgres.migrate``), the ``sqlalchemy.url`` option, ``DATABASE_URL``.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from reflective_adapters.postgres.blocking import run_blocking
from reflective_adapters.postgres.schema import metadata
from reflective_adapters.postgres.urls import to_async_url

# Any fixed number: app instances starting together take turns to migrate (pg_advisory lock).
MIGRATION_LOCK_KEY = 0x5EF1EC71

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = (
        config.attributes.get("url")
        or config.get_main_option("sqlalchemy.url")
        or os.environ.get("DATABASE_URL")
    )
    if not url:
        raise RuntimeError("no database URL: set DATABASE_URL (or pass one to migrate.upgrade)")
    return str(url)


def run_migrations_offline() -> None:
    context.configure(
        url=to_async_url(_url()),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        # Held to the end of the migration transaction; the version is read after it is taken.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(to_async_url(_url()), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_blocking(_run_async)
