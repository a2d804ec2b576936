"""Rate-limit guards for costly routes: one line on a route, ``guards=[rate_limit(...)]``.

Guards run before the body is read, so a refused metrics upload costs no body. Counts live in
PostgreSQL (``CheckRateLimit``), shared by every worker. Per-user limits read the user from the
access token without touching the database; a request without a valid token is not counted
here (the route answers it 401).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from reflective_domain.errors import AuthenticationFailed

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


def _user_subject(container: Any, connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        return str(container.tokens().read_access(token.strip()).user_id)
    except AuthenticationFailed:
        return None


def rate_limit(name: str, per: Literal["address", "user"]) -> Guard:
    """A guard counting each request of route ``name`` per client address or per user."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        container = connection.app.state["container"]
        if per == "user":
            subject = _user_subject(container, connection)
        else:
            subject = connection.client.host if connection.client else None
        if subject is None:
            return
        check = container.check_rate_limit()
        if inspect.isawaitable(check):
            check = await check
        await check(name, subject)

    return guard
