"""The per-user event stream cap across real worker processes (``reflective serve --workers
2``): streams held on both workers count together, the next one is refused on either worker,
closing one frees a slot, another user is unaffected, a crashed worker's slots stop
counting and are pruned, and a live worker's pruned slots come back with its heartbeat."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import pool, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from reflective_adapters.postgres import to_async_url
from tests.integration.api.conftest import Account
from tests.integration.live.conftest import CAPPED_STREAMS, RestartablePostgres, WorkersServer
from tests.integration.live.test_workers import pid_of, sign_up
from tests.integration.sse import EventStream, open_events, refused_events

pytestmark = pytest.mark.slow  # `pytest -m "not slow"` leaves it out
assert CAPPED_STREAMS == 3  # the first test spreads three streams

Server = tuple[WorkersServer, RestartablePostgres]


@asynccontextmanager
async def client_on(server: WorkersServer, pid: int) -> AsyncIterator[httpx.AsyncClient]:
    """A one-connection client whose connection worker ``pid`` accepted."""
    for _attempt in range(200):
        client = httpx.AsyncClient(
            base_url=server.base_url,
            timeout=30,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        if pid_of(server, await client.get("/api/health")) == pid:
            try:
                yield client
            finally:
                await client.aclose()
            return
        await client.aclose()
    raise AssertionError(f"no connection went to worker {pid}")


async def stream_on(
    stack: AsyncExitStack, server: WorkersServer, pid: int, user: Account
) -> EventStream:
    client = await stack.enter_async_context(client_on(server, pid))
    stream = await stack.enter_async_context(open_events(client, headers=user.headers))
    assert server.owner_of(stream.local_port) == pid
    return stream


async def refused_on(server: WorkersServer, pid: int, user: Account) -> httpx.Response:
    async with client_on(server, pid) as client:
        return await refused_events(client, headers=user.headers)


async def test_the_cap_counts_streams_on_every_worker(
    capped_workers_server: Server, he_vectors: dict[str, Any]
) -> None:
    server, _pg = capped_workers_server
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        ada = await sign_up(client, "ada@example.com", he_vectors)
        bob = await sign_up(client, "bob@example.com", he_vectors)
    first, second = server.worker_pids()[:2]
    async with AsyncExitStack() as stack:
        # The cap's streams (3), spread over both workers.
        async with AsyncExitStack() as freed:
            await stream_on(freed, server, second, ada)  # closed below
            await stream_on(stack, server, first, ada)
            await stream_on(stack, server, first, ada)
            for pid in (first, second):  # one more, on either worker: refused
                refused = await refused_on(server, pid, ada)
                assert refused.status_code == 429, refused.text
                assert refused.json()["code"] == "rate_limited"
            await stream_on(stack, server, second, bob)  # another user is not affected
        # One of Ada's streams closed (on the second worker): a slot is free, on the first.
        for _attempt in range(50):
            async with (
                client_on(server, first) as client,
                client.stream("GET", "/api/sync/events", headers=ada.headers) as response,
            ):
                if response.status_code == 200:
                    break
                assert response.status_code == 429
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the closed stream's slot was never freed")


async def user_slots(engine: AsyncEngine, user: Account) -> list[str]:
    """The holders of the user's rows in ``event_streams``."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT holder FROM event_streams WHERE user_id = :uid"),
            {"uid": uuid.UUID(user.id)},
        )
        return [row.holder for row in rows]


async def test_a_crashed_workers_slots_stop_counting_and_are_pruned(
    capped_workers_server: Server, he_vectors: dict[str, Any]
) -> None:
    server, pg = capped_workers_server
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        ada = await sign_up(client, "ada@example.com", he_vectors)
    # A worker that died holding every slot. Its rows are dated in the future so they count
    # for as long as the test needs, whatever the machine's load; they go stale below.
    crashed = [uuid.uuid4() for _ in range(CAPPED_STREAMS)]
    engine = create_async_engine(to_async_url(pg.url), poolclass=pool.NullPool)
    try:
        async with engine.begin() as connection:
            for slot in crashed:
                await connection.execute(
                    text(
                        "INSERT INTO event_streams (id, user_id, holder, opened_at, seen_at) "
                        "VALUES (:id, :uid, 'crashed', now(), now() + interval '1 hour')"
                    ),
                    {"id": slot, "uid": uuid.UUID(ada.id)},
                )
        pid = server.worker_pids()[0]
        refused = await refused_on(server, pid, ada)
        assert refused.status_code == 429, refused.text
        # Nothing refreshes them: as after more than three missed heartbeats.
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "UPDATE event_streams SET seen_at = now() - interval '1 minute' "
                    "WHERE holder = 'crashed'"
                )
            )
        async with AsyncExitStack() as stack:
            for _ in range(CAPPED_STREAMS):
                await stream_on(stack, server, pid, ada)
            holders = await user_slots(engine, ada)
            assert len(holders) == CAPPED_STREAMS
            assert "crashed" not in holders  # pruned by the claims
            # The live worker's heartbeat keeps its own slots counting past that age.
            await asyncio.sleep(4)
            refused = await refused_on(server, server.worker_pids()[1], ada)
            assert refused.status_code == 429, refused.text
    finally:
        await engine.dispose()


async def test_a_live_workers_pruned_slots_come_back_with_its_heartbeat(
    capped_workers_server: Server, he_vectors: dict[str, Any]
) -> None:
    server, pg = capped_workers_server
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        ada = await sign_up(client, "ada@example.com", he_vectors)
    first, second = server.worker_pids()[:2]
    engine = create_async_engine(to_async_url(pg.url), poolclass=pool.NullPool)
    try:
        async with AsyncExitStack() as stack:
            for _ in range(CAPPED_STREAMS):
                await stream_on(stack, server, first, ada)
            # The worker missed heartbeats (a database outage, a stalled loop) and another
            # worker's claim pruned its rows, while its streams stayed open.
            async with engine.begin() as connection:
                await connection.execute(
                    text("DELETE FROM event_streams WHERE user_id = :uid"),
                    {"uid": uuid.UUID(ada.id)},
                )
            # Its next heartbeat (1 s here) writes them again.
            for _attempt in range(300):
                if len(await user_slots(engine, ada)) == CAPPED_STREAMS:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the open streams' slots never came back")
            for pid in (first, second):  # and they count toward the cap again
                refused = await refused_on(server, pid, ada)
                assert refused.status_code == 429, refused.text
    finally:
        await engine.dispose()
