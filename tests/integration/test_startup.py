"""``reflective serve`` as an operator runs it (a real process): every configuration failure is
one line on stderr with exit status 2, before any worker starts; then one startup line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from reflective_adapters.postgres import migrate
from reflective_adapters.postgres.embedded import (
    embedded_status,
    start_embedded,
    stop_embedded,
    stop_embedded_server,
)
from tests.integration.conftest import DatabaseFactory, PgServer, embedded_data_dir

SECRET = "startup-test-secret-" + "x" * 40


def reflective() -> list[str]:
    script = Path(sys.executable).parent / "reflective"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from reflective_app.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REFLECTIVE_ENV", "SECRET_KEY", "LOG_FORMAT")
    }
    env.update({"REFLECTIVE_DATA_DIR": str(tmp_path / "data"), "SECRET_KEY": SECRET, **extra})
    return env


def serve_fails(tmp_path: Path, *args: str, **env: str) -> str:
    """Run serve expecting a configuration error; return its one stderr line."""
    result = subprocess.run(
        [*reflective(), "serve", "--port", str(free_port()), *args],
        env=base_env(tmp_path, **env),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def server_url(pg_server: PgServer) -> str:
    return pg_server.url


def test_missing_database(tmp_path: Path, server_url: str) -> None:
    line = serve_fails(tmp_path, DATABASE_URL=with_database(server_url, "no_such_db_xyz"))
    assert "database 'no_such_db_xyz' does not exist" in line and "createdb" in line


def test_wrong_port(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    line = serve_fails(tmp_path, DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/x")
    assert f"127.0.0.1:{port} (connection refused)" in line and "DATABASE_URL" in line


def test_wrong_user(tmp_path: Path, server_url: str) -> None:
    url = make_url(with_database(server_url, "postgres")).set(username="no_such_role_xyz")
    line = serve_fails(tmp_path, DATABASE_URL=url.render_as_string(hide_password=False))
    assert "refused user 'no_such_role_xyz'" in line and "DATABASE_URL" in line


def test_wrong_password(tmp_path: Path) -> None:
    """A PostgreSQL that really checks passwords: a throwaway embedded server whose socket
    asks for one (the machine's and the suite's servers trust local connections)."""
    import asyncpg

    data_dir = embedded_data_dir()
    try:
        url = start_embedded(data_dir, cleanup="delete")
        socket_dir = make_url(url).query["host"]

        async def ask_for_passwords() -> None:
            admin = await asyncpg.connect(host=socket_dir, user="postgres", database="postgres")
            try:
                await admin.execute("CREATE ROLE app LOGIN PASSWORD 'the-right-one'")
                hba = Path(socket_dir) / "pg_hba.conf"
                hba.write_text(
                    "local all postgres trust\nlocal all all scram-sha-256\n", encoding="utf-8"
                )
                await admin.execute("SELECT pg_reload_conf()")
            finally:
                await admin.close()

        asyncio.run(ask_for_passwords())
        line = serve_fails(
            tmp_path, DATABASE_URL=f"postgresql://app:not-the-right-one@/postgres?host={socket_dir}"
        )
        assert "refused the password of user 'app'" in line and "DATABASE_URL" in line
        assert "not-the-right-one" not in line
    finally:
        stop_embedded(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://app:s3cret@db/reflective", "not a PostgreSQL URL (scheme 'mysql')"),
        ("garbage", "DATABASE_URL is not a URL"),
        ("postgresql://app:s3cret@no-such-host.invalid/db", "cannot resolve the database host"),
        ("postgresql://app:s3cret@db/reflective?foo=bar", "unknown query parameter 'foo'"),
    ],
)
def test_bad_database_urls(tmp_path: Path, url: str, expected: str) -> None:
    line = serve_fails(tmp_path, DATABASE_URL=url)
    assert expected in line and "s3cret" not in line
    assert "Error" not in line.removeprefix("Error: ")  # no Python exception's name


def test_port_in_use_is_found_before_the_database(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*reflective(), "serve", "--port", str(port)],
            # A database that does not answer: the port is checked first.
            env=base_env(tmp_path, DATABASE_URL=f"postgresql://x@127.0.0.1:{free_port()}/x"),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"Error: port {port} on 127.0.0.1 is already in use; stop what listens there or "
        "choose another port with --port"
    )


def test_malformed_env_line_names_its_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LOG_LEVEL=INFO\n# a comment\nCORS_ORIGINS\n")
    line = serve_fails(tmp_path)
    assert "line 3 is not KEY=value" in line and "CORS_ORIGINS" in line


async def test_schema_behind_refuses_with_migrate_on_start_false(
    tmp_path: Path, pg_database_factory: DatabaseFactory
) -> None:
    url = await pg_database_factory("behind")  # empty: no migration applied
    line = serve_fails(tmp_path, DATABASE_URL=url, MIGRATE_ON_START="false")
    assert f"needs {migrate.head()}" in line and "reflective db upgrade" in line
    assert await asyncio.to_thread(migrate.current, url) is None  # nothing was migrated


@pytest.mark.parametrize(
    ("listen_url", "expected"),
    [
        ("mysql://app:s3cret@db/reflective", "not a PostgreSQL URL (scheme 'mysql')"),
        ("postgresql://app:s3cret@127.0.0.1:{port}/x", "(connection refused)"),
    ],
    ids=["not-postgresql", "unreachable"],
)
async def test_a_bad_listen_database_url_is_one_line_too(
    tmp_path: Path, pg_database_factory: DatabaseFactory, listen_url: str, expected: str
) -> None:
    url = await pg_database_factory("listen")
    listen = listen_url.format(port=free_port())
    line = await asyncio.to_thread(
        serve_fails, tmp_path, DATABASE_URL=url, LISTEN_DATABASE_URL=listen
    )
    assert expected in line and "LISTEN_DATABASE_URL" in line and "s3cret" not in line
    assert await asyncio.to_thread(migrate.current, url) is None  # refused before migrating


def alembic(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``alembic ARGS`` from the repository root, as a developer runs it."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "alembic"), *args],
        env=base_env(tmp_path, **env),
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("args", [("current",), ("upgrade", "head")])
def test_alembic_without_database_url_is_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    """From the repository root with no DATABASE_URL, alembic falls back to the embedded
    database; when that cannot start either, one line on stderr says how to set
    DATABASE_URL (alembic itself would print it twice, on stdout and stderr, exit 255)."""
    a_file = tmp_path / "file"
    a_file.write_text("")
    result = alembic(tmp_path, *args, REFLECTIVE_DATA_DIR=str(a_file / "data"))
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: DATABASE_URL is not set")
    assert "set DATABASE_URL=postgresql://" in line


def test_alembic_with_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    result = alembic(tmp_path, "upgrade", "head", DATABASE_URL=f"postgresql://x@127.0.0.1:{port}/x")
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert f"127.0.0.1:{port} (connection refused)" in line


# --- a server that starts --------------------------------------------------------------


class Started:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process, self.port = process, port

    def stderr_until(self, needle: str, timeout: float = 60) -> str:
        """Read stderr until a line containing ``needle``; all lines read so far."""
        assert self.process.stderr is not None
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stderr], [], [], 0.5)
            if ready:
                line = self.process.stderr.readline()
                if not line:
                    break
                seen.append(line)
                if needle in line:
                    return "".join(seen)
        raise AssertionError(f"{needle!r} never logged; got:\n{''.join(seen)}")

    def drain(self) -> None:
        """Keep reading stderr in the background, so the server never blocks on a full pipe."""
        stream = self.process.stderr
        assert stream is not None
        threading.Thread(target=lambda: [None for _ in stream], daemon=True).start()


@contextlib.contextmanager
def serving(tmp_path: Path, *args: str, **env: str) -> Iterator[Started]:
    """``reflective serve`` on a free port with ``env`` (see ``base_env``), its stderr piped;
    terminated on leaving."""
    port = free_port()
    process = subprocess.Popen(
        [*reflective(), "serve", "--port", str(port), *args],
        env=base_env(tmp_path, **env),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield Started(process, port)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def started(
    tmp_path: Path, pg_database_url: str, request: pytest.FixtureRequest
) -> Iterator[Started]:
    extra: dict[str, str] = dict(getattr(request, "param", {}))
    workers = extra.pop("WORKERS", "1")
    with serving(tmp_path, "--workers", workers, DATABASE_URL=pg_database_url, **extra) as server:
        yield server


@pytest.mark.parametrize("started", [{"LOG_FORMAT": "json"}], indirect=True)
def test_startup_line_says_where_to_look(started: Started, pg_database_url: str) -> None:
    logged = started.stderr_until("listening on")
    line = json.loads(logged.strip().splitlines()[-1])
    base = f"http://127.0.0.1:{started.port}"
    assert line["url"] == base and line["docs_url"] == f"{base}/docs"
    parsed = make_url(pg_database_url)
    host = parsed.host or parsed.query["host"]
    port = f":{parsed.port}" if parsed.port else ""
    assert line["database"] == f"postgresql {host}{port}/{parsed.database}"
    assert line["workers"] == 1
    if parsed.password:
        assert parsed.password not in logged


@pytest.mark.parametrize("started", [{"LOG_FORMAT": "console"}], indirect=True)
def test_console_logs_are_for_people(started: Started) -> None:
    logged = started.stderr_until("listening on")
    last = logged.strip().splitlines()[-1]
    assert not last.startswith("{")
    assert f"Reflective Server listening on http://127.0.0.1:{started.port}" in last


@pytest.mark.parametrize("started", [{"LOG_FORMAT": "json", "WORKERS": "2"}], indirect=True)
def test_two_workers_start_and_answer(started: Started) -> None:
    logged = started.stderr_until("listening on")
    assert '"workers": 2' in logged
    started.stderr_until("Application startup complete")
    started.drain()
    import httpx

    with httpx.Client(base_url=f"http://127.0.0.1:{started.port}") as client:
        for _ in range(4):
            assert client.get("/api/health").status_code == 200


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_stops_the_embedded_server_it_started(tmp_path: Path, workers: str) -> None:
    """``kill`` and ``systemctl stop`` send SIGTERM: serve shuts down cleanly and stops the
    embedded PostgreSQL it started (uvicorn re-raises the signal after its own shutdown)."""
    data_dir = embedded_data_dir()
    try:
        with serving(tmp_path, "--workers", workers, REFLECTIVE_DATA_DIR=str(data_dir)) as server:
            server.stderr_until("Application startup complete", timeout=120)
            server.drain()
            status = embedded_status(data_dir)
            assert status.running and status.users == (server.process.pid,)
            server.process.send_signal(signal.SIGTERM)
            assert server.process.wait(timeout=60) == 0
        status = embedded_status(data_dir)
        assert not status.running and status.users == ()
    finally:
        stop_embedded_server(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)
