"""Database URLs as people write them, turned into what SQLAlchemy's asyncpg dialect needs."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url

ASYNC_DRIVER = "postgresql+asyncpg"

# Schemes (and sync drivers) we accept and switch to asyncpg: a DATABASE_URL written for
# libpq, psql, Heroku-style `postgres://` or a sync SQLAlchemy driver all name the same server.
_POSTGRES_SCHEMES = frozenset(
    {
        "postgres",
        "postgresql",
        "postgresql+asyncpg",
        "postgresql+psycopg",
        "postgresql+psycopg2",
        "postgresql+pg8000",
    }
)

# Query parameters SQLAlchemy hands to asyncpg.connect() as keyword arguments, by the same
# names: any other would fail at the first connection with a TypeError. sslmode is libpq's
# name for ssl (converted below).
QUERY_PARAMETERS = (
    "host",
    "port",
    "sslmode",
    "ssl",
    "passfile",
    "target_session_attrs",
    "krbsrvname",
    "gsslib",
)


def to_async_url(raw: str | URL) -> URL:
    """Parse ``raw`` and return it with the asyncpg driver.

    Unix sockets work the libpq way: ``postgresql://user:@/db?host=/socket/dir``. libpq's
    ``sslmode`` becomes asyncpg's ``ssl`` (asyncpg takes the same mode names).
    """
    url = make_url(raw) if isinstance(raw, str) else raw
    if url.drivername not in _POSTGRES_SCHEMES:
        raise ValueError(
            f"not a PostgreSQL URL (scheme {url.drivername!r}); "
            "expected postgresql://, postgres:// or postgresql+asyncpg://"
        )
    unknown = sorted(set(url.query) - set(QUERY_PARAMETERS))
    if unknown:
        raise ValueError(
            f"a URL with an unknown query parameter {unknown[0]!r} "
            f"(understood: {', '.join(QUERY_PARAMETERS)}); remove it"
        )
    url = url.set(drivername=ASYNC_DRIVER)
    if "sslmode" in url.query:
        mode = url.query["sslmode"]
        url = url.difference_update_query(["sslmode"])
        if "ssl" not in url.query:
            url = url.update_query_dict({"ssl": mode})
    return url


def redacted(raw: str | URL) -> str:
    """The URL for messages: the password masked."""
    url = make_url(raw) if isinstance(raw, str) else raw
    return url.render_as_string(hide_password=True)
