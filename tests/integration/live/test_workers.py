"""Live sync across real worker processes: ``reflective serve --workers 2`` on a private
PostgreSQL. A write handled by one worker reaches a stream held by the other; after
PostgreSQL restarts the listener reconnects and the stream is told to resync; tickets are
single-use across workers and expire; another user's write never reaches the stream; SIGTERM ends
every open stream and the server exits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import pool, text
from sqlalchemy.ext.asyncio import create_async_engine

from reflective_adapters.postgres import to_async_url
from tests.integration.api.conftest import Account, bearer
from tests.integration.api.sync_client import entry_upload
from tests.integration.live.conftest import RestartablePostgres, WorkersServer
from tests.integration.sse import EventStream, open_events, refused_events

pytestmark = pytest.mark.slow  # `pytest -m "not slow"` leaves it out

Server = tuple[WorkersServer, RestartablePostgres]


async def sign_up(client: httpx.AsyncClient, email: str, vectors: dict[str, Any]) -> Account:
    password = "correct horse"
    created = await client.post("/api/auth/register", json={"email": email, "password": password})
    assert created.status_code == 201, created.text
    login = await client.post("/api/auth/token", data={"username": email, "password": password})
    assert login.status_code == 200, login.text
    user = Account(email, password, login.json(), created.json())
    tier = await client.put(
        "/api/users/me/privacy",
        json={
            "privacy_tier": "full_sync",
            "consent_timestamp": "2026-11-01T10:00:00Z",
            "he_public_key": vectors["public_key"],
        },
        headers=user.headers,
    )
    assert tier.status_code == 200, tier.text
    return user


def pid_of(server: WorkersServer, response: httpx.Response) -> int:
    port: int = response.extensions["network_stream"].get_extra_info("client_addr")[1]
    return server.owner_of(port)


@asynccontextmanager
async def client_on_another_worker(
    server: WorkersServer, not_pid: int
) -> AsyncIterator[tuple[httpx.AsyncClient, int]]:
    """A keep-alive client whose connection a worker other than ``not_pid`` accepted (new
    connections until the kernel hands one to another worker)."""
    for _attempt in range(200):
        client = httpx.AsyncClient(
            base_url=server.base_url,
            timeout=30,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        pid = pid_of(server, await client.get("/api/health"))
        if pid != not_pid:
            try:
                yield client, pid
            finally:
                await client.aclose()
            return
        await client.aclose()
    raise AssertionError("every connection went to the same worker")


async def push(
    client: httpx.AsyncClient, user: Account, server: WorkersServer, expect_pid: int
) -> int:
    stored = await client.post("/api/sync/backup", json=entry_upload(), headers=user.headers)
    assert stored.status_code == 201, stored.text
    assert pid_of(server, stored) == expect_pid  # handled by that worker, on that connection
    changes = await client.get("/api/sync/changes", headers=user.headers)
    return int(changes.json()["next_cursor"])


async def set_sequence(url: str, user: Account, value: int) -> None:
    engine = create_async_engine(to_async_url(url), poolclass=pool.NullPool)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE users SET change_seq = :v WHERE id = :id"), {"v": value, "id": user.id}
            )
    finally:
        await engine.dispose()


async def test_an_event_crosses_workers_and_survives_a_database_restart(
    workers_server: Server, he_vectors: dict[str, Any]
) -> None:
    server, pg = workers_server
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        ada = await sign_up(client, "ada@example.com", he_vectors)
        bob = await sign_up(client, "bob@example.com", he_vectors)
    await set_sequence(pg.url, bob, 100)  # Bob's cursors can't pass for Ada's

    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=30) as listening,
        open_events(listening, headers=ada.headers) as stream,
    ):
        subscriber_pid = server.owner_of(stream.local_port)
        async with client_on_another_worker(server, subscriber_pid) as (writer, writer_pid):
            assert writer_pid != subscriber_pid

            # Bob's writes on the other worker first, then Ada's: her stream hears only hers.
            for _ in range(2):
                assert await push(writer, bob, server, writer_pid) > 100
            cursor = await push(writer, ada, server, writer_pid)
            event = await stream.next_event()
            assert cursor == 1
            assert event.json() == {"cursor": "1", "kinds": ["entries"]}

            # PostgreSQL restarts: the subscriber's worker reconnects its listener and tells
            # the stream to pull again (anything notified meanwhile was lost).
            pg.stop("fast")
            pg.start()
            resync = await stream.next_event(timeout=60)
            assert resync.json() == {"kind": "resync"}

            # And it hears writes again, from the other worker.
            cursor = await push_until_served(writer, ada, server, writer_pid)
            event = await stream.next_event()
            assert event.json() == {"cursor": str(cursor), "kinds": ["entries"]}


async def push_until_served(
    client: httpx.AsyncClient, user: Account, server: WorkersServer, expect_pid: int
) -> int:
    """After a database restart the first request may meet a dropped pooled connection
    (503); the write is retried, as a client would."""
    for _attempt in range(50):
        stored = await client.post("/api/sync/backup", json=entry_upload(), headers=user.headers)
        if stored.status_code == 201:
            assert pid_of(server, stored) == expect_pid
            changes = await client.get("/api/sync/changes", headers=user.headers)
            return int(changes.json()["next_cursor"])
        assert stored.status_code == 503, stored.text
        await asyncio.sleep(0.2)
    raise AssertionError("the write never succeeded after the restart")


async def test_tickets_are_single_use_across_workers_and_expire(
    workers_server: Server, he_vectors: dict[str, Any]
) -> None:
    server, pg = workers_server
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as first:
        ada = await sign_up(first, "ada@example.com", he_vectors)
        issued = await first.post("/api/sync/events/ticket", headers=ada.headers)
        assert issued.status_code == 201
        ticket = issued.json()["ticket"]
        async with open_events(first, params={"ticket": ticket}) as stream:
            used_on = server.owner_of(stream.local_port)
        async with client_on_another_worker(server, used_on) as (second, _pid):
            again = await refused_events(second, params={"ticket": ticket})
            assert again.status_code == 401
            # A fresh ticket works on this worker too.
            fresh = await second.post("/api/sync/events/ticket", headers=ada.headers)
            async with open_events(second, params={"ticket": fresh.json()["ticket"]}):
                pass
            # A ticket past its 60 seconds (its expiry moved back in the database, rather
            # than waiting; the in-process tests move an injected clock instead).
            stale = await second.post("/api/sync/events/ticket", headers=ada.headers)
            await expire_tickets(pg.url)
            late = await refused_events(second, params={"ticket": stale.json()["ticket"]})
            assert late.status_code == 401


async def expire_tickets(url: str) -> None:
    engine = create_async_engine(to_async_url(url), poolclass=pool.NullPool)
    try:
        async with engine.begin() as connection:
            changed = await connection.execute(
                text("UPDATE event_tickets SET expires_at = now() - interval '1 second'")
            )
            assert changed.rowcount == 1
    finally:
        await engine.dispose()


async def test_sigterm_ends_open_streams_and_the_server_exits(
    workers_server: Server, he_vectors: dict[str, Any]
) -> None:
    server, _pg = workers_server
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        ada = await sign_up(client, "ada@example.com", he_vectors)
        clients = [httpx.AsyncClient(base_url=server.base_url, timeout=30) for _ in range(4)]
        streams: list[EventStream] = []
        contexts = [open_events(c, headers=bearer(ada.tokens["access_token"])) for c in clients]
        try:
            for context in contexts:
                streams.append(await context.__aenter__())
            holders = {server.owner_of(s.local_port) for s in streams}
            assert holders  # streams are open (on one or both workers)
            code = await asyncio.to_thread(server.terminate)
            for stream in streams:
                await stream.until_end()  # ended by the server, cleanly (no broken chunk)
            assert code == 0
        finally:
            for context in contexts:
                await context.__aexit__(None, None, None)
            for c in clients:
                await c.aclose()
