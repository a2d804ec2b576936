"""One log line per request, tagged with a request id that is echoed in ``X-Request-ID``.

``RequestMiddleware``: the request id, the log line and the security headers
(``security_headers``) in one pass over each answer, since every layer of ASGI middleware
costs each request a closure and a call per message."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from reflective_app.security_headers import add_security_headers, security_headers

REQUEST_ID_HEADER = "x-request-id"
REQUEST_ID_HEADER_BYTES = REQUEST_ID_HEADER.encode()
# A caller's id is kept only if it is short and plain, so it cannot smuggle data into logs.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

log = structlog.get_logger("reflective.requests")


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _SAFE_ID.match(candidate) else None
    return None


class RequestMiddleware(ASGIMiddleware):
    """Logs method, route template (ids are not logged), status and duration; echoes the
    request id and sets the security headers, in one send wrapper."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        chosen, api = security_headers(scope.get("path", ""))
        own = (REQUEST_ID_HEADER_BYTES, request_id.encode("latin-1"))
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                add_security_headers(message, chosen, api, own)
            await send(message)

        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await next_app(scope, receive, send_with_headers)
        finally:
            log.info(
                "request",
                method=scope.get("method"),
                path=scope.get("path_template") or "<unmatched>",
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            structlog.contextvars.reset_contextvars(**tokens)
