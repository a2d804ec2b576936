"""The deployment kit, run for real where the machine has the binaries (.ci/run installs
Debian's nginx and pgbouncer): nginx in front of two `reflective serve` instances, the
systemd unit's shape, and the API through PgBouncer in transaction mode."""

from __future__ import annotations

import configparser
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.test_startup import Started, base_env, free_port, reflective
from tests.system_tools import require

pytestmark = pytest.mark.slow  # `pytest -m "not slow"` leaves it out

DEPLOY = Path(__file__).parents[2] / "deploy"


def wait_for_port(port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture(scope="module")
def two_instances(
    tmp_path_factory: pytest.TempPathFactory, pg_database_url: str
) -> Iterator[list[int]]:
    tmp_path = tmp_path_factory.mktemp("instances")
    ports, processes = [free_port(), free_port()], []
    try:
        for port in ports:
            process = subprocess.Popen(
                [*reflective(), "serve", "--port", str(port)],
                env=base_env(
                    tmp_path,
                    DATABASE_URL=pg_database_url,
                    FORWARDED_ALLOW_IPS="127.0.0.1",
                    LOG_FORMAT="json",
                ),
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            processes.append(process)
            server = Started(process, port)
            server.stderr_until("Application startup complete")
            server.drain()
        yield ports
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def nginx_binary() -> str:
    return require("nginx", package="nginx")


@pytest.fixture(scope="module")
def nginx(
    nginx_binary: str, tmp_path_factory: pytest.TempPathFactory, two_instances: list[int]
) -> Iterator[int]:
    binary = nginx_binary
    tmp = tmp_path_factory.mktemp("nginx")
    port = free_port()
    servers = "\n".join(f"server 127.0.0.1:{p};" for p in two_instances)
    (tmp / "nginx.conf").write_text(
        f"""
daemon off;
{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream reflective {{ {servers} keepalive 4; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{ include {DEPLOY / "nginx" / "reflective-proxy.conf"}; }}
    }}
}}
"""
    )
    process = subprocess.Popen(
        [binary, "-p", str(tmp), "-c", str(tmp / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def from_address(address: str, port: int) -> httpx.Client:
    """A client whose connections leave from ``address`` (any 127.x address is loopback)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", transport=transport)


def test_nginx_site_file_is_valid() -> None:
    text = (DEPLOY / "nginx" / "reflective.conf").read_text()
    assert "include /etc/nginx/snippets/reflective-proxy.conf" in text
    assert text.count("server 127.0.0.1:800") == 2 and "ssl_certificate " in text


def test_behind_nginx_the_throttle_counts_the_client_not_the_proxy(nginx: int) -> None:
    """30 failed sign-ins from 127.0.0.2 lock that address out; a client at 127.0.0.3 behind
    the same nginx (whose own address, as both instances see it, is 127.0.0.1) is not."""
    with from_address("127.0.0.2", nginx) as attacker:
        assert attacker.get("/api/health").status_code == 200
        for attempt in range(30):
            failed = attacker.post(
                "/api/auth/token",
                data={"username": f"guess{attempt}@example.com", "password": "wrong password"},
                # A forged header is replaced by nginx, not believed.
                headers={"X-Forwarded-For": f"198.51.100.{attempt}"},
            )
            assert failed.status_code == 401, failed.text
        locked = attacker.post(
            "/api/auth/token", data={"username": "another@example.com", "password": "x" * 8}
        )
        assert locked.status_code == 429
    with from_address("127.0.0.3", nginx) as bystander:
        answer = bystander.post(
            "/api/auth/token", data={"username": "another@example.com", "password": "x" * 8}
        )
        assert answer.status_code == 401  # wrong password, but not locked out


def test_systemd_unit_runs_serve_with_the_settings_file() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "systemd" / "reflective@.service")
    service = unit["Service"]
    assert "reflective serve" in service["ExecStart"] and "--port %i" in service["ExecStart"]
    assert service["EnvironmentFile"] == "/etc/reflective/reflective.env"
    assert service["User"] == "reflective" and service["RestartPreventExitStatus"] == "2"
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    # serve stops its workers and the embedded PostgreSQL itself on SIGTERM (tested in
    # test_startup.py): systemd signals the main process only, then kills what is left.
    assert service["KillSignal"] == "SIGTERM" and service["KillMode"] == "mixed"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
