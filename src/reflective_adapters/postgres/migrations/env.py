"""Alembic environment: async engine (asyncpg), URL from the caller or DATABASE_URL.

Where the URL comes from, first found wins: ``config.attributes["url"]`` (the programmatic API
in ``reflective_adapters.postgres.migrate``), the ``sqlalchemy.url`` option, ``DATABASE_URL``.
Run by alembic's command line, a failure is one line on stderr and exit status 2.
"""

from __future__ import annotations

import os
import sys
from logging.config import fileConfig

from alembic import context
from alembic.util.exc import CommandError
from sqlalchemy import pool, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import create_async_engine

from reflective_adapters.postgres.blocking import run_blocking
from reflective_adapters.postgres.diagnose import URL_FORM, connection_failure
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
    if url:
        return str(url)
    # `alembic upgrade head` from the repository root with no DATABASE_URL: the embedded
    # database, as `reflective serve` would use. Errors are one-line CommandErrors.
    from reflective_adapters.postgres.embedded import (
        EmbeddedDatabaseError,
        data_dir_from_env,
        start_embedded,
    )

    try:
        return start_embedded(data_dir_from_env(os.environ))
    except EmbeddedDatabaseError as exc:
        raise CommandError(
            f"DATABASE_URL is not set and the embedded database did not start ({exc}); "
            "set DATABASE_URL=postgresql://USER:PASSWORD@HOST:5432/DATABASE"
        ) from None


def _async_url(raw: str) -> URL:
    try:
        return to_async_url(raw)
    except (ValueError, ArgumentError) as exc:
        raise CommandError(f"DATABASE_URL: {exc}; e.g. {URL_FORM}") from None


def run_migrations_offline() -> None:
    context.configure(
        url=_async_url(_url()),
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
    url = _async_url(_url())
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        try:
            connection = await engine.connect()
        except Exception as exc:  # one line with the cause, not a traceback
            raise CommandError(connection_failure(exc, url)) from None
        try:
            await connection.run_sync(_run)
        finally:
            await connection.close()
    finally:
        await engine.dispose()


def _main() -> None:
    if context.is_offline_mode():
        run_migrations_offline()
    else:
        run_blocking(_run_async)


if config.cmd_opts is None:  # the programmatic API: its callers report CommandError
    _main()
else:
    try:
        _main()
    except CommandError as exc:
        # alembic's command line would print it twice (stdout, then its log) and exit 255.
        sys.stderr.write(f"Error: {' '.join(str(exc).split())}\n")
        raise SystemExit(2) from None
