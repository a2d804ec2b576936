"""The embedded default: with no DATABASE_URL, a PostgreSQL under REFLECTIVE_DATA_DIR. Runs
whether or not TEST_DATABASE_URL is set; reuses the session's embedded server when it has one
(starting a second costs seconds)."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from reflective_adapters.postgres import (
    SqlAlchemyUnitOfWork,
    make_engine,
    make_session_factory,
    migrate,
)
from reflective_adapters.postgres.embedded import (
    EmbeddedDatabaseError,
    data_dir_from_env,
    database_url_from_env,
    start_embedded,
    stop_embedded,
)
from reflective_domain.accounts import User
from tests.integration.conftest import PgServer, embedded_data_dir


@pytest.fixture(scope="module")
def data_dir(pg_server: PgServer) -> Iterator[Path]:
    if pg_server.embedded_data_dir is not None:
        yield pg_server.embedded_data_dir
        return
    fresh = embedded_data_dir()
    try:
        yield fresh
    finally:
        stop_embedded(fresh)
        shutil.rmtree(fresh, ignore_errors=True)


async def test_embedded_server_connects_and_migrates(data_dir: Path) -> None:
    env = {"REFLECTIVE_DATA_DIR": str(data_dir)}
    url = await asyncio.to_thread(database_url_from_env, env)
    parsed = make_url(url)
    assert parsed.query["host"] == str(data_dir.resolve() / "pgdata")  # a unix socket
    assert await asyncio.to_thread(database_url_from_env, env) == url  # joins, never restarts

    await asyncio.to_thread(migrate.upgrade, url)
    assert await asyncio.to_thread(migrate.current, url) == migrate.head()
    engine = make_engine(url)
    try:
        now = datetime.now(timezone.utc)
        user = User(uuid.uuid4(), f"{uuid.uuid4().hex}@example.com", "hash", now, now)
        async with SqlAlchemyUnitOfWork(make_session_factory(engine)) as uow:
            await uow.users.add(user)
            await uow.commit()
        async with SqlAlchemyUnitOfWork(make_session_factory(engine)) as uow:
            assert await uow.users.get(user.id) == user
            await uow.users.delete(user.id)
            await uow.commit()
    finally:
        await engine.dispose()


def test_database_url_wins_over_the_embedded_server(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": " postgresql://app@db.internal/reflective ",
        "REFLECTIVE_DATA_DIR": str(tmp_path),
    }
    assert database_url_from_env(env) == "postgresql://app@db.internal/reflective"
    assert list(tmp_path.iterdir()) == []  # nothing started


def test_data_dir_defaults_to_the_platform_data_dir(tmp_path: Path) -> None:
    assert data_dir_from_env({"REFLECTIVE_DATA_DIR": str(tmp_path)}) == tmp_path
    assert data_dir_from_env({}).name == "reflective"
    assert data_dir_from_env({"REFLECTIVE_DATA_DIR": "  "}).name == "reflective"


def test_unusable_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(EmbeddedDatabaseError, match="REFLECTIVE_DATA_DIR") as caught:
        start_embedded(a_file / "data")
    assert "DATABASE_URL" in str(caught.value)


def test_permission_problem_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pgserver

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(tmp_path))

    monkeypatch.setattr(pgserver, "get_server", refuse)
    with pytest.raises(EmbeddedDatabaseError, match="permission denied") as caught:
        start_embedded(tmp_path)
    message = str(caught.value)
    assert "REFLECTIVE_DATA_DIR" in message and "DATABASE_URL" in message
    if os.geteuid() == 0:
        assert "'pgserver' system user" in message
