"""Engine and session factories. Nothing is built at import time: the app's composition root
calls these once per process."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from reflective_adapters.postgres.urls import to_async_url

APPLICATION_NAME = "reflective-server"


def make_engine(
    url: str | URL,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    pool_timeout: float = 30.0,
    pool_pre_ping: bool = False,
    echo: bool = False,
    **kwargs: Any,
) -> AsyncEngine:
    """An asyncpg engine for ``url`` (any accepted PostgreSQL URL form, see ``urls``).

    ``hide_parameters`` keeps bound values (ciphertexts, password hashes, token hashes) out of
    exception messages and logs.

    No pre-ping round trip on checkout: a pooled connection the server dropped (restart, idle
    timeout, terminated backend) is known to asyncpg as closed as soon as the event loop has
    read the end of its socket, so each checkout looks at that (no round trip) and a closed
    connection is replaced before a request gets it: the pool retries the checkout with a
    new connection.
    """
    connect_args = {"server_settings": {"application_name": APPLICATION_NAME}}
    connect_args.update(kwargs.pop("connect_args", {}))
    engine = create_async_engine(
        to_async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_pre_ping=pool_pre_ping,
        echo=echo,
        hide_parameters=True,
        connect_args=connect_args,
        **kwargs,
    )
    event.listen(engine.sync_engine, "connect", _unblock_writes_on_connection_loss)
    event.listen(engine.sync_engine.pool, "checkout", _refuse_closed_connection)
    return engine


def _refuse_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Raising DisconnectionError in a checkout makes the pool discard this connection and
    check out again (a fresh connection when the rest are gone too)."""
    driver = getattr(dbapi_connection, "driver_connection", None)
    is_closed = getattr(driver, "is_closed", None)
    if is_closed is not None and is_closed():
        raise exc.DisconnectionError("the server closed this pooled connection")


def _unblock_writes_on_connection_loss(dbapi_connection: Any, _record: Any) -> None:
    """asyncpg (0.32) ``executemany``, our batch inserts, waits for a full socket buffer to
    drain with no timeout, and a lost connection never ends that wait: a batch under way when
    PostgreSQL stopped hung its request forever, holding its pooled connection (see
    tests/integration/faults). When the connection terminates, end the wait; the call then
    raises ConnectionDoesNotExistError (a 503). A no-op should asyncpg's internals change."""
    driver = getattr(dbapi_connection, "driver_connection", None)
    if driver is not None and hasattr(driver, "add_termination_listener"):
        driver.add_termination_listener(_allow_writing)


def _allow_writing(driver_connection: Any) -> None:
    writing_allowed = getattr(
        getattr(driver_connection, "_protocol", None), "writing_allowed", None
    )
    if writing_allowed is not None:
        writing_allowed.set()


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Only Core statements run through these sessions, so expiry on commit has nothing to do.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
