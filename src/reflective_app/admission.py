"""Admission control: a worker handles at most ``limit`` API requests at once (about its
connection pool's size); a request that cannot start within ``wait_seconds`` is answered at
once with 503 and ``Retry-After`` instead of queueing for seconds. Liveness, readiness and
the Prometheus endpoint are never held back, and neither is the change-notification stream:
it stays open as long as a device is online (capped per user, see ``live``), and holds no
database connection while it waits."""

from __future__ import annotations

import asyncio

from litestar.enums import ScopeType
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Receive,
    Scope,
    Send,
)

from reflective_app.errors import UNAVAILABLE, error_body
from reflective_protocol.errors import ErrorCode

RETRY_AFTER_SECONDS = 1
_EXEMPT = ("/api/health", "/api/metrics")
_STREAM = "/api/sync/events"  # exactly: its ticket route is an ordinary request
_BODY = error_body(UNAVAILABLE, ErrorCode.OVERLOADED)


class Gate:
    """The worker's request slots, shared by every route's middleware instance."""

    def __init__(self, limit: int, wait_seconds: float) -> None:
        self.limit = limit
        self._slots = asyncio.Semaphore(limit)
        self._wait = wait_seconds

    async def enter(self) -> bool:
        """Take a slot, waiting at most ``wait_seconds``; False when none came free."""
        if not self._slots.locked():
            await self._slots.acquire()  # free: no waiting, no timer
            return True
        try:
            await asyncio.wait_for(self._slots.acquire(), self._wait)
        except TimeoutError:
            return False
        return True

    def leave(self) -> None:
        self._slots.release()


class Admission:
    """ASGI middleware (Litestar builds one per route; they share the app's ``Gate``)."""

    def __init__(self, app: ASGIApp, gate: Gate) -> None:
        self._app, self._gate = app, gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != ScopeType.HTTP or path.startswith(_EXEMPT) or path == _STREAM:
            await self._app(scope, receive, send)
            return
        if not await self._gate.enter():
            await _busy(send)
            return
        try:
            await self._app(scope, receive, send)
        finally:
            self._gate.leave()


async def _busy(send: Send) -> None:
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 503,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(_BODY)).encode()),
            (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
        ],
    }
    body: HTTPResponseBodyEvent = {"type": "http.response.body", "body": _BODY, "more_body": False}
    await send(start)
    await send(body)
