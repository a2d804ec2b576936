"""The server under load: a fresh PostgreSQL database, and ``reflective serve`` as a
subprocess on 127.0.0.1 that is always stopped (its whole process group) at the end."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import pool, text
from sqlalchemy.ext.asyncio import create_async_engine

from reflective_adapters.postgres.urls import to_async_url

HOST = "127.0.0.1"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
STARTUP_LINE = "Application startup complete"
STOP_GRACE_SECONDS = 10.0

# Everything started here, so a failing or interrupted run still cleans up (see ``cleanup``).
_RUNNING: list[ServerProcess] = []


class ServerFailed(RuntimeError):
    """The server did not start, or not within the time allowed."""


# --- the database --------------------------------------------------------------------------


async def admin(server_url: str, sql: str) -> None:
    """Run ``sql`` outside a transaction (CREATE/DROP DATABASE need that)."""
    engine = create_async_engine(
        to_async_url(server_url), isolation_level="AUTOCOMMIT", poolclass=pool.NullPool
    )
    try:
        async with engine.connect() as connection:
            await connection.execute(text(sql))
    finally:
        await engine.dispose()


def database_url(server_url: str, name: str) -> str:
    return to_async_url(server_url).set(database=name).render_as_string(hide_password=False)


async def create_database(server_url: str) -> tuple[str, str]:
    """A new empty database ``load_<hex>`` on the server of ``server_url``: (name, URL)."""
    name = f"load_{secrets.token_hex(4)}"
    await admin(server_url, f'CREATE DATABASE "{name}"')
    return name, database_url(server_url, name)


async def drop_database(server_url: str, name: str) -> None:
    await admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the server process --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _server_command() -> list[str]:
    script = Path(sys.executable).parent / "reflective"
    if script.exists():
        return [str(script)]
    found = shutil.which("reflective")
    if found:
        return [found]
    return [sys.executable, "-c", "from reflective_app.cli import main; main()"]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    # Linux: the server gets SIGTERM if this process dies without cleaning up (e.g. SIGKILL).
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class ServerProcess:
    """``reflective serve --host 127.0.0.1 --port <free> --workers K`` on ``database_url``."""

    database_url: str
    workers: int
    log_level: str = "INFO"
    log_path: Path | None = None

    def __post_init__(self) -> None:
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self._home = Path(tempfile.mkdtemp(prefix="reflective-load-"))
        self.log_path = self.log_path or self._home / "server.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def command(self) -> list[str]:
        return [
            *_server_command(),
            "serve",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]

    def start(self) -> None:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.database_url,
            SECRET_KEY=secrets.token_urlsafe(48),
            REFLECTIVE_ENV="production",
            REFLECTIVE_DATA_DIR=str(self._home / "data"),
            LOG_LEVEL=self.log_level,
        )
        assert self.log_path is not None
        with open(self.log_path, "ab") as log:
            # Its own session (process group): stop() signals the parent and its workers.
            # cwd: a directory of its own, so no stray .env is read.
            self._process = subprocess.Popen(
                self.command,
                cwd=self._home,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        _RUNNING.append(self)

    def startups(self) -> int:
        assert self.log_path is not None
        try:
            return self.log_path.read_text(errors="replace").count(STARTUP_LINE)
        except FileNotFoundError:
            return 0

    def log_tail(self, lines: int = 40) -> str:
        assert self.log_path is not None
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    async def wait_ready(self, timeout: float) -> float:
        """Wait for /api/health/ready to answer 200 and every worker to have started;
        returns the seconds it took."""
        assert self._process is not None
        started = time.monotonic()
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2.0) as client:
            while True:
                code = self._process.poll()
                if code is not None:
                    raise ServerFailed(f"the server exited with {code}:\n{self.log_tail()}")
                try:
                    ready = (await client.get("/api/health/ready")).status_code == 200
                except httpx.HTTPError:
                    ready = False
                if ready and self.startups() >= self.workers:
                    return time.monotonic() - started
                if time.monotonic() - started > timeout:
                    raise ServerFailed(
                        f"not ready after {timeout:.0f} s ({self.startups()} of {self.workers} "
                        f"workers started):\n{self.log_tail()}"
                    )
                await asyncio.sleep(0.2)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the server's live processes: its process group."""
        if self._process is None:
            return 0.0
        group = self._process.pid
        return sum(cpu for pid, (pgrp, cpu) in _processes().items() if pgrp == group)

    def stop(self) -> int | None:
        """SIGTERM to the group, SIGKILL after a grace period; idempotent."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(STOP_GRACE_SECONDS)
        # Workers left behind by a parent that died first.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        if self in _RUNNING:
            _RUNNING.remove(self)
        shutil.rmtree(self._home / "data", ignore_errors=True)
        return process.returncode

    def remove_files(self) -> None:
        shutil.rmtree(self._home, ignore_errors=True)


# --- CPU accounting (Linux /proc), to tell this run's work from the machine's other work -----


def _processes() -> dict[int, tuple[int, float]]:
    """pid -> (process group, CPU seconds used so far)."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            found[int(stat.parent.name)] = (
                int(fields[2]),
                (int(fields[11]) + int(fields[12])) / tick,
            )
        except (OSError, IndexError, ValueError):
            continue
    return found


def processes_cpu(pids: list[int]) -> dict[int, float]:
    """CPU seconds used so far by each of ``pids`` still alive."""
    table = _processes()
    return {pid: table[pid][1] for pid in pids if pid in table}


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already in user
    return (total - idle) / tick, total / tick


async def database_backends(url: str) -> list[int]:
    """Process ids of the PostgreSQL backends connected to the database of ``url`` (other
    than this query's own)."""
    engine = create_async_engine(to_async_url(url), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            return [int(row[0]) for row in rows]
    finally:
        await engine.dispose()


def cleanup() -> None:
    """Stop every server this process started and has not stopped yet."""
    for server in list(_RUNNING):
        server.stop()


@dataclass
class Environment:
    server: ServerProcess
    database_url: str
    database_name: str | None  # set when this run created (and will drop) the database
    ready_seconds: float

    @property
    def base_url(self) -> str:
        return self.server.base_url


@contextlib.asynccontextmanager
async def serving(
    workers: int,
    *,
    pg_url: str = DEFAULT_PG_URL,
    database_url: str | None = None,
    keep_database: bool = False,
    startup_timeout: float = 90.0,
    log_level: str = "INFO",
    log_path: Path | None = None,
) -> AsyncIterator[Environment]:
    """A fresh database (or ``database_url`` as given) and a started server on it; both
    gone afterwards (the database only if created here and not ``keep_database``)."""
    name = None
    if database_url is None:
        name, database_url = await create_database(pg_url)
    server = ServerProcess(database_url, workers, log_level, log_path)
    try:
        server.start()
        ready = await server.wait_ready(startup_timeout)
        yield Environment(server, database_url, name, ready)
    finally:
        server.stop()
        if log_path is None:
            server.remove_files()
        if name is not None and not keep_database:
            await drop_database(pg_url, name)
