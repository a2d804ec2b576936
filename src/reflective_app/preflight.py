"""Checks ``reflective serve`` runs before any worker starts, each failure one line that says
what is wrong and how to fix it (never the database password).

- ``bind``: the listening socket, bound once here and handed to uvicorn (so a port in use is
  found before the database is started or migrated).
- ``check_database``: connect and run ``SELECT 1``; a bad URL, a missing database, a wrong
  host, port, user or password each get their own message.
- ``prepare_schema``: migrate (``MIGRATE_ON_START``, the default) or check that the schema is
  the one this version needs.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

from sqlalchemy import pool, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import create_async_engine

from reflective_adapters.postgres import migrate, to_async_url
from reflective_adapters.postgres.blocking import run_blocking
from reflective_adapters.postgres.diagnose import URL_FORM, connection_failure
from reflective_adapters.postgres.lifecycle import SchemaMismatch, check_schema_at_head

CONNECT_TIMEOUT_SECONDS = 10


class StartupError(Exception):
    """The server cannot start as configured; ``str`` is the one line to show."""


def bind(host: str, port: int) -> socket.socket:
    """The server's listening socket, bound and listening now, handed to uvicorn."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"port {port} on {host} is already in use; stop what listens there "
                f"or choose another port with --port"
            ) from None
        if exc.errno == errno.EACCES:
            raise StartupError(
                f"no permission to listen on {host}:{port}; use a port above 1023 "
                "(put nginx in front for 80/443)"
            ) from None
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    # Listening now: a client arriving while the workers start waits in the backlog rather
    # than being refused (uvicorn listens again with its own backlog, which is harmless).
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def parse_database_url(raw: str) -> URL:
    """The URL with the asyncpg driver, or a StartupError saying what form is expected."""
    try:
        return to_async_url(raw)
    except ArgumentError:
        raise StartupError(f"DATABASE_URL is not a URL; expected {URL_FORM}") from None
    except ValueError as exc:
        raise StartupError(f"DATABASE_URL is {exc}; e.g. {URL_FORM}") from None


def describe(url: str | URL, embedded_dir: Path | None = None) -> str:
    """Where the database is, for the startup line: host, port and name, never a password."""
    if embedded_dir is not None:
        return f"embedded at {embedded_dir}"
    parsed = make_url(url) if isinstance(url, str) else url
    host = parsed.host or parsed.query.get("host") or "localhost"
    port = f":{parsed.port}" if parsed.port else ""
    return f"postgresql {host}{port}/{parsed.database or ''}"


def check_database(raw_url: str) -> None:
    """Connect and run one query; raise StartupError with the cause and the fix."""
    url = parse_database_url(raw_url)

    async def probe() -> None:
        engine = create_async_engine(
            url, poolclass=pool.NullPool, connect_args={"timeout": CONNECT_TIMEOUT_SECONDS}
        )
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    try:
        run_blocking(probe)
    except Exception as exc:
        raise StartupError(connection_failure(exc, url)) from None


def prepare_schema(url: str, migrate_on_start: bool) -> str:
    """Migrate to head, or (MIGRATE_ON_START=false) refuse unless already there. Returns what
    was done, for the log."""
    if migrate_on_start:
        migrate.upgrade(url)
        return "migrated"
    schema_matches(url)
    return "schema checked"


def schema_matches(url: str) -> None:
    try:
        check_schema_at_head(url)
    except SchemaMismatch as exc:
        raise StartupError(str(exc)) from None
