"""``reflective serve --workers 2`` as real processes on a PostgreSQL of their own (which
the tests may restart), and a way to tell which worker process holds a connection.

The PostgreSQL is the fault tests' ``restartable_pg``: a dedicated embedded server in a temp
directory, never the session's shared one nor the machine's.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.integration.faults.conftest import (  # noqa: F401 (fixtures used by the tests)
    LiveServer,
    RestartablePostgres,
    he_vectors,
    restartable_pg,
)

if not Path("/proc/net/tcp").exists():  # pragma: no cover
    pytest.skip("telling worker processes apart needs Linux's /proc", allow_module_level=True)


class WorkersServer(LiveServer):
    """``reflective serve --workers N`` in a process group of its own, ready when every worker
    listens."""

    def __init__(self, database_url: str, workdir: Path, workers: int = 2) -> None:
        super().__init__(database_url, workdir)
        self.workers = workers
        # The listener also checks its connection this often.
        self.env = {"EVENTS_HEARTBEAT_SECONDS": "1"}

    def extra_args(self) -> list[str]:
        return ["--workers", str(self.workers)]

    async def ready(self, client: httpx.AsyncClient) -> bool:
        return await super().ready(client) and len(self.worker_pids()) >= self.workers

    def worker_pids(self) -> list[int]:
        """The supervisor's child processes that listen on the server's port."""
        assert self.process is not None
        children = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                if ppid == self.process.pid and _socket_inodes(int(entry)):
                    children.append(int(entry))
        return children

    def owner_of(self, client_port: int) -> int:
        """The worker process holding the server side of the connection from
        ``client_port``."""
        inode = _connection_inode(self.port, client_port)
        assert inode is not None, f"no connection from port {client_port}"
        for pid in self.worker_pids():
            if inode in _socket_inodes(pid):
                return pid
        raise AssertionError(f"no worker holds the connection from port {client_port}")

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM to the supervisor, as a service manager stops it; its exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self.process = None
        return code


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    return inodes


def _connection_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the server-side socket of a 127.0.0.1 TCP connection."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, remote, inode = fields[1], fields[2], fields[9]
                if (
                    int(local.rsplit(":", 1)[1], 16) == server_port
                    and int(remote.rsplit(":", 1)[1], 16) == client_port
                ):
                    return inode
    return None


@contextlib.asynccontextmanager
async def _two_workers(
    pg: RestartablePostgres, tmp_path: Path, **env: str
) -> AsyncIterator[tuple[WorkersServer, RestartablePostgres]]:
    server = WorkersServer(pg.url, tmp_path)
    server.env.update(env)
    await server.start(timeout=90.0)  # two workers take longer to be ready
    try:
        yield server, pg
    finally:
        server.kill()


@pytest.fixture
async def workers_server(
    restartable_pg: RestartablePostgres,  # noqa: F811 (the fixture re-exported above)
    tmp_path: Path,
) -> AsyncIterator[tuple[WorkersServer, RestartablePostgres]]:
    async with _two_workers(restartable_pg, tmp_path) as served:
        yield served


CAPPED_STREAMS = 3


@pytest.fixture
async def capped_workers_server(
    restartable_pg: RestartablePostgres,  # noqa: F811 (the fixture re-exported above)
    tmp_path: Path,
) -> AsyncIterator[tuple[WorkersServer, RestartablePostgres]]:
    """Two workers with a small per-user stream cap (``CAPPED_STREAMS``)."""
    async with _two_workers(
        restartable_pg, tmp_path, MAX_EVENT_STREAMS_PER_USER=str(CAPPED_STREAMS)
    ) as served:
        yield served
