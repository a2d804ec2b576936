"""Security headers on every HTTP answer, errors included.

- ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer`` everywhere;
- a Content-Security-Policy that forbids everything for API answers (they are JSON, never a
  page), and for the docs only what the viewers need: their scripts and styles from this
  server (never another host), their inline start-up scripts, data: images and ReDoc's
  blob: worker;
- ``Cache-Control: no-store`` on every ``/api`` answer that does not choose its own, so tokens
  (``/api/auth/token``, ``/api/auth/refresh``), profiles and exports stay out of caches.
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class SecurityHeadersMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        path = scope.get("path", "")
        docs = path == "/docs" or path.startswith("/docs/")
        api = path.startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                headers["x-content-type-options"] = "nosniff"
                headers["referrer-policy"] = "no-referrer"
                headers["content-security-policy"] = DOCS_CSP if docs else API_CSP
                if api and "cache-control" not in headers:
                    headers["cache-control"] = "no-store"
            await send(message)

        await next_app(scope, receive, send_with_headers)
