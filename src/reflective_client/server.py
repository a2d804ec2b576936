"""A Reflective server in a child process, for the demo (and tests that want a real socket).

It runs the server's documented ASGI entry point, ``uvicorn reflective_app.main:app``, as a
separate process: the client never imports server code, it only talks HTTP to it. Without a
``database_url`` the server starts its embedded PostgreSQL under ``workdir`` (first start
takes a few seconds: ``initdb``), and stops it again on shutdown.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

APP = "reflective_app.main:app"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    def __init__(
        self, workdir: Path, *, database_url: str | None = None, port: int | None = None
    ) -> None:
        self.workdir = workdir
        self.database_url = database_url
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "server.log"
        self._process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "uvicorn", APP,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--no-access-log",  # the app logs requests itself, without query strings
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env["REFLECTIVE_DATA_DIR"] = str(self.workdir / "server-data")
        env.setdefault("LOG_LEVEL", "INFO")
        env.pop("DATABASE_URL", None)
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        return env

    def start(self, timeout: float = 180.0) -> str:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.database_url is None and hasattr(os, "geteuid") and os.geteuid() == 0:
            # As root the embedded PostgreSQL runs as a user of its own, which must read its
            # way through this directory to its data (the server refuses rather than widen
            # it): so the server's directory holds nothing but the server's data and log.
            self.workdir.chmod(self.workdir.stat().st_mode | 0o055)
        log = self.log_path.open("wb")
        # cwd: the work directory, so a developer's .env is not picked up by the demo server.
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
            self.command(), cwd=self.workdir, env=self.environment(), stdout=log, stderr=log
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"the server exited with status {self._process.returncode}; "
                    f"its log: {self.log_path}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/api/health", timeout=2.0).status_code == 200:
                    return self.url
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(
            f"the server did not answer within {timeout:.0f} s; log: {self.log_path}"
        )

    def stop(self, timeout: float = 30.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()  # uvicorn shuts down gracefully: lifespan stops the database
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
