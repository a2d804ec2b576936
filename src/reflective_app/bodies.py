"""Every request body is read here, one mechanism for all routes.

- Bytes are taken as they arrive and counted against the route's limit as they arrive: 413
  the moment a body passes it (or at once when Content-Length announces more). Nothing is
  allocated from the announced length, so a client announcing a huge body and sending a few
  bytes costs a few bytes.
- A body larger than the ordinary JSON limit is a *large upload* (only the metrics upload
  accepts one). Each worker reads at most ``large_uploads`` of them at once; one more is
  answered 503 with Retry-After at once, before any of it is read.
- A client that sends nothing for ``idle_timeout`` seconds in the middle of a body gets 408.
- A client that disconnects half-way raises :class:`ClientDisconnected`, so whatever was
  being written from the body is rolled back.

Ordinary routes get the whole (small) body through :class:`JsonRequest`; the metrics upload
parses its body as a stream of chunks (:func:`body_chunks`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

import msgspec
from litestar import Request
from litestar.exceptions import HTTPException, ServiceUnavailableException, ValidationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import Empty

_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
POLICY_STATE_KEY = "body_policy"


class MalformedBody(Exception):
    """The body is not JSON at all."""


class ClientDisconnected(HTTPException):
    """The client went away before sending its whole body; nothing of it is kept. 499, the
    status nginx logs for it: nobody is left to read the answer."""

    status_code = 499
    detail = "The client disconnected before the request body was complete"


class BodyTimeout(HTTPException):
    status_code = 408
    detail = "The request body stalled: no data arrived in time"


@dataclass
class LargeUploads:
    """How many large bodies this worker is reading now, out of ``capacity``."""

    capacity: int
    retry_after: int = 5
    active: int = 0

    def claim(self) -> None:
        if self.active >= self.capacity:
            raise ServiceUnavailableException(
                detail="Too many large uploads are in progress; retry shortly",
                headers={"Retry-After": str(self.retry_after)},
            )
        self.active += 1

    def release(self) -> None:
        self.active -= 1


@dataclass
class BodyPolicy:
    """Per worker (one instance per app): limits that hold for every body read."""

    large_threshold: int
    """Bodies above this many bytes count as large uploads."""
    large_limit: int
    """The cap for a route that sets no limit of its own."""
    large_uploads: LargeUploads = field(default_factory=lambda: LargeUploads(4))
    idle_timeout: float = 30.0


def body_policy(request: Request[Any, Any, Any]) -> BodyPolicy:
    policy = request.app.state.get(POLICY_STATE_KEY)
    if policy is None:  # an app built without one: ordinary limits, generous defaults
        policy = BodyPolicy(large_threshold=1024 * 1024, large_limit=1024 * 1024)
        request.app.state[POLICY_STATE_KEY] = policy
    return cast(BodyPolicy, policy)


@contextlib.asynccontextmanager
async def large_upload(request: Request[Any, Any, Any]) -> AsyncIterator[None]:
    """Hold one of this worker's large-upload slots (503 with Retry-After when none is free)
    for the whole handling of an upload route, database work included, so the cap also
    bounds the connections such uploads hold. A body that announces an ordinary size
    (Content-Length within ``large_threshold``, which the server holds it to) needs none."""
    policy = body_policy(request)
    announced = request.content_length
    if announced is not None and announced <= policy.large_threshold:
        yield
        return
    slots = policy.large_uploads
    slots.claim()
    try:
        yield
    finally:
        slots.release()


async def body_chunks(
    request: Request[Any, Any, Any], limit: int, *, admitted: bool = False
) -> AsyncGenerator[bytes, None]:
    """The body as it arrives, chunk by chunk, within ``limit`` bytes (413 beyond).
    ``admitted``: the caller holds a large-upload slot already (see :func:`large_upload`)."""
    if not request.is_connected:
        raise ClientDisconnected
    policy = body_policy(request)
    announced = request.content_length
    if announced is not None and announced > limit:
        raise RequestEntityTooLarge
    large = False
    try:
        if not admitted and announced is not None and announced > policy.large_threshold:
            policy.large_uploads.claim()
            large = True
        size = 0
        while True:
            try:
                event = await asyncio.wait_for(request.receive(), policy.idle_timeout)
            except asyncio.TimeoutError:
                raise BodyTimeout from None
            if event["type"] == "http.disconnect":
                request.is_connected = False
                raise ClientDisconnected
            if event["type"] != "http.request":
                continue
            chunk = event.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise RequestEntityTooLarge
                if not (large or admitted) and size > policy.large_threshold:
                    policy.large_uploads.claim()
                    large = True
                yield chunk
            if not event.get("more_body", False):
                break
        request.is_connected = False  # consumed: it cannot be read again
    finally:
        if large:
            policy.large_uploads.release()


async def read_body(request: Request[Any, Any, Any], limit: int) -> bytes:
    """The whole body, at most ``limit`` bytes, grown as it arrives."""
    buffer = bytearray()
    async for chunk in body_chunks(request, limit):
        buffer += chunk
    return bytes(buffer)


class JsonRequest(Request[Any, Any, Any]):
    """Litestar's request, reading its body through :func:`read_body` (so every route shares
    the limits above), and answering 422 for a body msgspec cannot read as JSON at all:
    Litestar turns only msgspec's ``DecodeError`` into a client error, while bytes that are
    not UTF-8 raise ``UnicodeDecodeError`` and nesting deeper than msgspec's limit
    ``RecursionError``."""

    async def body(self) -> bytes:
        if self._body is Empty:
            held = self._connection_state.body
            if held is not Empty:
                self._body = held
            else:
                limit = self.route_handler.resolve_request_max_body_size()
                body = await read_body(self, limit or body_policy(self).large_limit)
                self._body = self._connection_state.body = body
        return self._body

    async def json(self) -> Any:
        try:
            return await super().json()
        except (UnicodeDecodeError, RecursionError):
            raise MalformedBody from None


def validation_error(exc: msgspec.ValidationError, prefix: str = "") -> ValidationException:
    """A msgspec validation error as Litestar's, located at ``prefix`` + msgspec's path."""
    match = _AT.match(str(exc))
    message = match.group("message") if match else str(exc)
    key = (match.group("path") or "").lstrip(".") if match else ""
    if prefix:
        key = f"{prefix}.{key}" if key else prefix
    return ValidationException(
        detail="Validation failed",
        extra=[{"message": message, "key": key or "data", "source": "body"}],
    )
