"""Why a connection to PostgreSQL failed, as one line with the fix (never the password)."""

from __future__ import annotations

import errno
import socket

import asyncpg
from sqlalchemy.engine import URL

URL_FORM = "postgresql://USER:PASSWORD@HOST:5432/DATABASE"
CONNECT_TIMEOUT_SECONDS = 10


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not s for s in seen):
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def connection_failure(exc: BaseException, url: URL) -> str:
    """One line for why connecting to ``url`` failed."""
    host = url.host or url.query.get("host") or "localhost"
    where = f"{host}:{url.port or 5432}"
    user = url.username or "(default user)"
    for e in _chain(exc):
        if isinstance(e, asyncpg.InvalidCatalogNameError):
            return (
                f"database {url.database!r} does not exist on the PostgreSQL server at {where}; "
                f"create it (createdb -h {host} -p {url.port or 5432} {url.database}) "
                "or fix the database name in DATABASE_URL"
            )
        if isinstance(e, asyncpg.InvalidPasswordError):
            return (
                f"the PostgreSQL server at {where} refused the password of user {user!r}; "
                "fix the user or password in DATABASE_URL"
            )
        if isinstance(e, asyncpg.InvalidAuthorizationSpecificationError):
            return (
                f"the PostgreSQL server at {where} refused user {user!r} "
                f"({_first_line(e)}); fix the user in DATABASE_URL"
            )
        if isinstance(e, socket.gaierror):
            return f"cannot resolve the database host {host!r}; fix the host in DATABASE_URL"
        if isinstance(e, ConnectionRefusedError) or (
            isinstance(e, OSError) and e.errno == errno.ECONNREFUSED
        ):
            return (
                f"nothing accepts connections at {where} (connection refused); start "
                "PostgreSQL there or fix the host and port in DATABASE_URL"
            )
        if isinstance(e, TimeoutError):
            return (
                f"no answer from {where} within {CONNECT_TIMEOUT_SECONDS} s; check the host "
                "and port in DATABASE_URL and any firewall in between"
            )
        if isinstance(e, asyncpg.PostgresError):
            return f"the PostgreSQL server at {where} refused the connection: {_first_line(e)}"
    return f"cannot connect to the database at {where}: {type(exc).__name__}: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    text_ = str(exc).strip().splitlines()
    return text_[0][:200] if text_ else type(exc).__name__
