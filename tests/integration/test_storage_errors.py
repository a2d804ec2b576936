"""The PostgreSQL adapter speaks the storage port's errors: a database it cannot reach or that
timed out is ``StorageUnavailable``, a value PostgreSQL refuses is ``UnstorableValue`` (each
with the driver's exception kept as its cause), and any other failure passes through as it
was. The app's 503 and 422 answers rest on this (see tests/integration/faults for the outage
end to end)."""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from reflective_adapters.postgres import SqlAlchemyUnitOfWork, make_engine
from reflective_adapters.postgres.lifecycle import PgDatabase
from reflective_domain.ports import StorageUnavailable, UnstorableValue

UNREACHABLE = "postgresql://postgres@127.0.0.1:9/nowhere"  # the discard port: refused


async def test_an_unreachable_database_is_storage_unavailable() -> None:
    engine = make_engine(UNREACHABLE)
    try:
        with pytest.raises(StorageUnavailable) as raised:
            async with SqlAlchemyUnitOfWork(engine):
                pass
        with pytest.raises(StorageUnavailable):
            await PgDatabase(engine).ping()
    finally:
        await engine.dispose()
    assert raised.value.__cause__ is not None  # the driver's own error, for the logs


async def test_a_lock_timeout_is_storage_unavailable(
    pg_engine: AsyncEngine, pg_session_factory: async_sessionmaker[AsyncSession], pg_clean: None
) -> None:
    async with pg_engine.connect() as holder:
        transaction = await holder.begin()
        await holder.execute(text("LOCK TABLE tags IN ACCESS EXCLUSIVE MODE"))
        try:
            with pytest.raises(StorageUnavailable):
                async with SqlAlchemyUnitOfWork(pg_session_factory) as uow:
                    await uow.session.execute(text("SET LOCAL lock_timeout = '50ms'"))
                    await uow.session.execute(text("SELECT 1 FROM tags LIMIT 1"))
        finally:
            await transaction.rollback()


async def test_a_value_postgresql_cannot_store_is_unstorable_and_nothing_is_written(
    pg_engine: AsyncEngine, pg_session_factory: async_sessionmaker[AsyncSession], pg_clean: None
) -> None:
    with pytest.raises(UnstorableValue) as raised:
        async with SqlAlchemyUnitOfWork(pg_session_factory) as uow:
            await uow.session.execute(
                text(
                    "INSERT INTO login_attempts (key, failures, window_started_at) "
                    "VALUES (decode('6b', 'hex'), 1, now())"
                )
            )
            await uow.session.execute(text("SELECT CAST(:v AS text)"), {"v": "a\x00b"})
            await uow.commit()
    assert raised.value.__cause__ is not None
    async with pg_engine.connect() as connection:
        count = (await connection.execute(text("SELECT count(*) FROM login_attempts"))).scalar()
    assert count == 0


async def test_other_failures_pass_through_unchanged(
    pg_session_factory: async_sessionmaker[AsyncSession], pg_clean: None
) -> None:
    with pytest.raises(sa_exc.ProgrammingError):  # a bug, not the storage's state
        async with SqlAlchemyUnitOfWork(pg_session_factory) as uow:
            await uow.session.execute(text("SELECT * FROM no_such_table"))
    with pytest.raises(ValueError, match="sentinel"):
        async with SqlAlchemyUnitOfWork(pg_session_factory):
            raise ValueError("sentinel")
