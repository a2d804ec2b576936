"""Why a connection to PostgreSQL failed, as one line with the fix (never the password), and
the other questions the server's commands ask about a database before or besides serving it
(where it is, which server version, libpq options for pg_dump)."""

from __future__ import annotations

import errno
import os
import socket

import asyncpg
from sqlalchemy import pool, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from reflective_adapters.postgres.blocking import run_blocking
from reflective_adapters.postgres.urls import to_async_url

URL_FORM = "postgresql://USER:PASSWORD@HOST:5432/DATABASE"
CONNECT_TIMEOUT_SECONDS = 10


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not s for s in seen):
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def connection_failure(exc: BaseException, url: URL, variable: str = "DATABASE_URL") -> str:
    """One line for why connecting to ``url`` failed; the fix names ``variable``, the setting
    the URL came from."""
    host = url.host or url.query.get("host") or "localhost"
    where = f"{host}:{url.port or 5432}"
    user = url.username or "(default user)"
    for e in _chain(exc):
        if isinstance(e, asyncpg.InvalidCatalogNameError):
            return (
                f"database {url.database!r} does not exist on the PostgreSQL server at {where}; "
                f"create it (createdb -h {host} -p {url.port or 5432} {url.database}) "
                f"or fix the database name in {variable}"
            )
        if isinstance(e, asyncpg.InvalidPasswordError):
            return (
                f"the PostgreSQL server at {where} refused the password of user {user!r}; "
                f"fix the user or password in {variable}"
            )
        if isinstance(e, asyncpg.InvalidAuthorizationSpecificationError):
            return (
                f"the PostgreSQL server at {where} refused user {user!r} "
                f"({_first_line(e)}); fix the user in {variable}"
            )
        if isinstance(e, socket.gaierror):
            return f"cannot resolve the database host {host!r}; fix the host in {variable}"
        if isinstance(e, ConnectionRefusedError) or (
            isinstance(e, OSError) and e.errno == errno.ECONNREFUSED
        ):
            return (
                f"nothing accepts connections at {where} (connection refused); start "
                f"PostgreSQL there or fix the host and port in {variable}"
            )
        if isinstance(e, TimeoutError):
            return (
                f"no answer from {where} within {CONNECT_TIMEOUT_SECONDS} s; check the host "
                f"and port in {variable} and any firewall in between"
            )
        if isinstance(e, asyncpg.PostgresError):
            return f"the PostgreSQL server at {where} refused the connection: {_first_line(e)}"
    return f"cannot connect to the database at {where}: {type(exc).__name__}: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    text_ = str(exc).strip().splitlines()
    return text_[0][:200] if text_ else type(exc).__name__


class DatabaseUnreachable(Exception):
    """Connecting failed, or DATABASE_URL cannot be used; ``str`` is the one line to show (the
    cause and the fix, never the password)."""


def parse_url(raw: str, variable: str = "DATABASE_URL") -> URL:
    """``raw`` with the asyncpg driver, or DatabaseUnreachable saying what form is expected."""
    try:
        return to_async_url(raw)
    except ArgumentError:
        raise DatabaseUnreachable(f"{variable} is not a URL; expected {URL_FORM}") from None
    except ValueError as exc:
        raise DatabaseUnreachable(f"{variable} is {exc}; e.g. {URL_FORM}") from None


def check_connection(raw_url: str, variable: str = "DATABASE_URL") -> None:
    """Connect and run one query; raise DatabaseUnreachable with the cause and the fix, which
    names ``variable``, the setting the URL came from."""
    url = parse_url(raw_url, variable)

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
        raise DatabaseUnreachable(connection_failure(exc, url, variable)) from None


def location(url: str) -> str:
    """Where the database is: host, port and name, never a password."""
    parsed = make_url(url)
    host = parsed.host or parsed.query.get("host") or "localhost"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{host}{port}/{parsed.database or ''}"


def server_major_version(url: str) -> int:
    """The major version of the PostgreSQL server at ``url`` (raises if it cannot be reached)."""

    async def read() -> int:
        engine = create_async_engine(to_async_url(url), poolclass=pool.NullPool)
        try:
            async with engine.connect() as connection:
                number = (await connection.execute(text("SHOW server_version_num"))).scalar_one()
        finally:
            await engine.dispose()
        return int(number) // 10000

    return run_blocking(read)


def libpq_options(url_text: str) -> tuple[list[str], dict[str, str]]:
    """Connection options for pg_dump/pg_restore: as arguments, the password in the
    environment (never on a command line other users can read)."""
    url = make_url(url_text)
    args: list[str] = []
    host = url.host or url.query.get("host")
    if host:
        args += ["--host", str(host)]
    if url.port:
        args += ["--port", str(url.port)]
    if url.username:
        args += ["--username", url.username]
    args += ["--dbname", url.database or "postgres"]
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    mode = url.query.get("sslmode") or url.query.get("ssl")
    if mode:
        env["PGSSLMODE"] = str(mode)
    return args, env


def driver_failure(exc: BaseException) -> str | None:
    """The driver's own message for a failed database statement (e.g. in a migration), or
    None when ``exc`` is not the database driver's."""
    if isinstance(exc, DBAPIError):
        return str(exc.orig)
    return None
