"""The HTTP server against slow and oversized clients (a real `reflective serve`), and
X-Forwarded-For trusted only from FORWARDED_ALLOW_IPS."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from reflective_app.commands.serve import uvicorn_config
from reflective_app.settings import Settings
from tests.integration.test_startup import Started, serving


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, pg_database_url: str) -> Iterator[Started]:
    tmp_path = tmp_path_factory.mktemp("guarded")
    with serving(
        tmp_path,
        DATABASE_URL=pg_database_url,
        HEADER_READ_TIMEOUT="1",
        MAX_HEADER_BYTES="8192",
        LOG_FORMAT="json",
    ) as server:
        server.stderr_until("Application startup complete")
        server.drain()
        yield server


def test_a_client_trickling_its_headers_is_dropped(guarded: Started) -> None:
    with socket.create_connection(("127.0.0.1", guarded.port)) as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n")
        sock.settimeout(0.2)
        closed = False
        # A byte every 0.2 s keeps the connection busy; the header deadline (1 s) still ends
        # it. Bounded at 60 s so a server without the guard fails rather than hangs.
        for _ in range(300):
            try:
                sock.sendall(b"X")
                if sock.recv(1024) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
        assert closed


def test_a_client_that_connects_and_says_nothing_is_dropped(guarded: Started) -> None:
    with socket.create_connection(("127.0.0.1", guarded.port)) as sock:
        sock.settimeout(60)
        assert sock.recv(1024) == b""


def test_an_oversized_header_is_refused(guarded: Started) -> None:
    with socket.create_connection(("127.0.0.1", guarded.port)) as sock:
        sock.settimeout(60)
        # Over the 8 KiB limit but small enough to arrive in one loopback segment: a server
        # that closes with part of a request unread resets the connection, and a reset can
        # discard the 431 it already sent before the client reads it.
        sock.sendall(
            b"GET /api/health HTTP/1.1\r\nHost: localhost\r\nX-Big: "
            + b"a" * 12 * 1024
            + b"\r\n\r\n"
        )
        answer = b""
        try:
            while chunk := sock.recv(4096):
                answer += chunk
        except ConnectionResetError:
            pass  # after the answer, a reset is how some closes end; the answer decides
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert answer.endswith(b'"code":"headers_too_large"}')


def test_an_unparsable_request_is_answered_in_the_error_shape(guarded: Started) -> None:
    with socket.create_connection(("127.0.0.1", guarded.port)) as sock:
        sock.settimeout(60)
        sock.sendall(b"NOT A REQUEST\r\n\r\n")
        answer = b""
        try:
            while chunk := sock.recv(4096):
                answer += chunk
        except ConnectionResetError:
            pass
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert answer.endswith(b'"code":"bad_request"}')


def test_ordinary_requests_still_work(guarded: Started) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{guarded.port}") as client:
        for _ in range(3):  # keep-alive: later requests on the same connection too
            assert client.get("/api/health", headers={"X-Fine": "a" * 2000}).status_code == 200
            time.sleep(0.1)


# --- forwarded addresses -------------------------------------------------------------------


async def client_address_seen(settings: Settings, peer: str, forwarded_for: str) -> str:
    """The client address the app sees for a request from ``peer`` carrying
    ``X-Forwarded-For``, through the uvicorn configuration serve uses."""
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen["client"] = scope["client"][0]
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    config = uvicorn_config(settings, app)
    config.load()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"x-forwarded-for", forwarded_for.encode())],
        "client": (peer, 40000),
        "server": ("127.0.0.1", 8000),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    await config.loaded_app(scope, receive, send)
    return str(seen["client"])


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(secret_key="s" * 40, data_dir=tmp_path)


async def test_forwarded_for_is_ignored_by_default(settings: Settings) -> None:
    assert settings.forwarded_allow_ips == ""
    assert await client_address_seen(settings, "127.0.0.1", "203.0.113.9") == "127.0.0.1"


async def test_forwarded_for_is_honoured_only_from_a_trusted_proxy(settings: Settings) -> None:
    trusting = replace(settings, forwarded_allow_ips="127.0.0.1,10.0.0.0/8")
    assert await client_address_seen(trusting, "127.0.0.1", "203.0.113.9") == "203.0.113.9"
    assert await client_address_seen(trusting, "10.1.2.3", "203.0.113.9") == "203.0.113.9"
    # Anyone else's header is ignored: they cannot choose the address the throttle counts.
    assert await client_address_seen(trusting, "198.51.100.4", "203.0.113.9") == "198.51.100.4"


def test_settings_read_forwarded_allow_ips_and_the_http_limits(tmp_path: Path) -> None:
    env = {
        "REFLECTIVE_DATA_DIR": str(tmp_path),
        "FORWARDED_ALLOW_IPS": " 127.0.0.1 , 10.0.0.0/8 ",
        "HEADER_READ_TIMEOUT": "3",
        "KEEP_ALIVE_TIMEOUT": "7",
        "MAX_HEADER_BYTES": "4096",
        "LIMIT_CONCURRENCY": "50",
    }
    settings = Settings.from_env(env, env_file=None)
    assert settings.forwarded_allow_ips == "127.0.0.1,10.0.0.0/8"
    config = uvicorn_config(settings)
    assert config.proxy_headers and config.forwarded_allow_ips == "127.0.0.1,10.0.0.0/8"
    assert config.timeout_keep_alive == 7 and config.limit_concurrency == 50
    assert config.h11_max_incomplete_event_size == 4096
    assert config.header_read_timeout == 3.0  # type: ignore[attr-defined]
