"""Reading a Server-Sent Events stream over real HTTP (httpx), event by event."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

# Hang guards only: nothing here asserts how fast anything is.
WAIT = 20.0


@dataclass
class SseEvent:
    data: str | None = None
    id: str | None = None
    comments: list[str] = field(default_factory=list)

    def json(self) -> Any:
        assert self.data is not None, f"no data in {self}"
        return json.loads(self.data)


class EventStream:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    @property
    def local_port(self) -> int:
        """This connection's client-side port (to find which server process holds it)."""
        stream = self.response.extensions["network_stream"]
        port: int = stream.get_extra_info("client_addr")[1]
        return port

    async def _block(self) -> SseEvent | None:
        """The next block up to a blank line; None at the end of the stream."""
        event = SseEvent()
        seen = False
        async for line in self._lines:
            if line == "":
                if seen:
                    return event
                continue
            seen = True
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "":
                event.comments.append(value)
            elif name == "data":
                event.data = value if event.data is None else event.data + "\n" + value
            elif name == "id":
                event.id = value
        return event if seen else None

    async def next_block(self, timeout: float = WAIT) -> SseEvent | None:
        return await asyncio.wait_for(self._block(), timeout)

    async def next_event(self, timeout: float = WAIT) -> SseEvent:
        """The next block with data (comments such as heartbeats skipped)."""

        async def find() -> SseEvent:
            while True:
                block = await self._block()
                assert block is not None, "the stream ended"
                if block.data is not None:
                    return block

        return await asyncio.wait_for(find(), timeout)

    async def until_end(self, timeout: float = WAIT) -> list[SseEvent]:
        """Every block until the server ends the stream."""

        async def drain() -> list[SseEvent]:
            blocks = []
            while (block := await self._block()) is not None:
                blocks.append(block)
            return blocks

        return await asyncio.wait_for(drain(), timeout)


@asynccontextmanager
async def open_events(
    client: httpx.AsyncClient,
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    subscribed: bool = True,
) -> AsyncIterator[EventStream]:
    """``GET /api/sync/events``; with ``subscribed``, returns once the server has registered
    the stream (its first comment), so that a later write is sure to be announced."""
    async with client.stream(
        "GET", "/api/sync/events", headers=headers or {}, params=params or {}
    ) as response:
        stream = EventStream(response)
        if subscribed:
            assert response.status_code == 200, (await response.aread()).decode()
            first = await stream.next_block()
            assert first is not None and "subscribed" in first.comments, first
        yield stream


async def refused_events(
    client: httpx.AsyncClient,
    *,
    headers: Mapping[str, str | bytes] | None = None,
    params: dict[str, str] | None = None,
    timeout: float = WAIT,
) -> httpx.Response:
    """``GET /api/sync/events`` expected to be refused: its answer, read whole. A stream
    opened instead (200) is closed at once and fails the test, where a plain GET would wait
    for its end forever."""

    async def ask() -> httpx.Response:
        async with client.stream(
            "GET", "/api/sync/events", headers=headers or {}, params=params or {}
        ) as response:
            assert response.status_code != 200, "a stream was opened where a refusal was due"
            await response.aread()
            return response

    return await asyncio.wait_for(ask(), timeout)
