"""Request bodies against the real server process (``reflective serve``, one worker):

- connections that announce a huge Content-Length and then send almost nothing cost the
  server (almost) nothing: its resident memory, read from /proc, stays flat;
- a worker reads a bounded number of large uploads at once; one more is answered 503 with
  Retry-After straight away, and a slot comes back when a client goes away;
- a streamed metrics upload whose client disconnects half-way, after the server has already
  written some of it inside its transaction, leaves nothing stored;
- a streamed upload is answered by a server whose peak memory grows by about one chunk of
  metrics, not by the body.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.api.conftest import Account, set_tier, sign_up
from tests.integration.faults.conftest import (
    LiveServer,
    assert_metrics_whole,
    metrics_batch,
    wait_for,
    wait_for_backend,
)

MIB = 1024 * 1024
ANNOUNCED = 600 * MIB
IDLE_CONNECTIONS = 16
PROBE = b'{"metrics": "x"'  # answered 422 as soon as it is read: "metrics" is not an array


def resident_bytes(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


def reset_peak(pid: int) -> None:
    """Make VmHWM (peak resident memory) start again from the current size."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


async def open_upload(server: LiveServer, account: Account, length: int, body: bytes) -> Any:
    """A raw connection that sends the headers of a metrics upload announcing ``length``
    bytes, then ``body``, and leaves the rest unsent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    head = (
        "POST /api/encryption/metrics HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        f"Authorization: {account.headers['Authorization']}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    return reader, writer


async def status_of(reader: asyncio.StreamReader) -> tuple[int, str]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, head.decode("latin-1")


async def analytics_account(
    server: LiveServer, he_vectors: dict[str, Any], email: str = "bodies@example.com"
) -> Account:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        account = await sign_up(client, email, "correct horse")
        await set_tier(client, account, "analytics_sync", he_vectors["public_key"])
        return account


@contextlib.asynccontextmanager
async def closing_all(connections: list[Any]) -> AsyncIterator[None]:
    try:
        yield
    finally:
        for _, writer in connections:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def test_idle_large_uploads_leave_memory_flat_and_the_next_one_is_refused(
    live_server: LiveServer, he_vectors: dict[str, Any]
) -> None:
    await live_server.start()  # the default: 4 large uploads per worker
    assert live_server.process is not None
    pid = live_server.process.pid
    accounts = [
        await analytics_account(live_server, he_vectors, f"idle{i}@example.com") for i in range(4)
    ]
    before = resident_bytes(pid)
    connections = [
        await open_upload(live_server, accounts[i % 4], ANNOUNCED, b'{"metrics": [')
        for i in range(IDLE_CONNECTIONS)
    ]
    async with closing_all(connections):
        # One more is refused at once, with Retry-After, when (and only when) every slot is
        # held by an upload being read.
        async def refused() -> bool:
            reader, writer = await open_upload(live_server, accounts[0], ANNOUNCED, PROBE)
            try:
                status, head = await status_of(reader)
            finally:
                writer.close()
            if status == 503:
                assert "retry-after: " in head.lower()
                return True
            return False

        assert await wait_for(refused, timeout=60, interval=0.1), "no 503 for one upload too many"
        # An ordinary-sized upload needs no slot: it is served while every slot is taken.
        small = metrics_batch(he_vectors, 2)
        async with httpx.AsyncClient(base_url=live_server.base_url, timeout=60) as client:
            sent = await client.post(
                "/api/encryption/metrics",
                content=small.body,
                headers={**accounts[0].headers, "Content-Type": "application/json"},
            )
        assert sent.status_code == 201, sent.text
        answers = await asyncio.gather(
            *(asyncio.wait_for(status_of(r), 30) for r, _ in connections), return_exceptions=True
        )
        refused_at_once = [a for a in answers if isinstance(a, tuple) and a[0] == 503]
        assert len(refused_at_once) == IDLE_CONNECTIONS - 4  # the rest time out, unread
        grown = resident_bytes(pid) - before
        # 16 x 600 MiB announced; before bodies were read incrementally this was ~9.6 GB.
        assert grown < 64 * MIB, f"{IDLE_CONNECTIONS} idle uploads grew the server by {grown}"

    # The clients went away: their slots are free again and an upload is read as usual.
    async def admitted() -> bool:
        reader, writer = await open_upload(live_server, accounts[0], ANNOUNCED, PROBE)
        try:
            status, _ = await status_of(reader)
        finally:
            writer.close()
        return status == 422  # admitted, read, and refused at its first wrong byte

    assert await wait_for(admitted, timeout=60, interval=0.1)


async def chunks(data: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    """The body sent a piece at a time (chunked transfer encoding, no Content-Length)."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_a_client_gone_half_way_leaves_nothing_stored(
    live_server: LiveServer, live_db: AsyncEngine, he_vectors: dict[str, Any]
) -> None:
    live_server.env = {"METRICS_UPLOAD_CHUNK": "5"}
    await live_server.start()
    account = await analytics_account(live_server, he_vectors)
    batch = metrics_batch(he_vectors, 60)
    half = batch.body[: len(batch.body) // 2]
    _reader, writer = await open_upload(live_server, account, len(batch.body), half)
    try:
        # Some chunks are written inside the server's open transaction...
        written = await wait_for_backend(live_db, lambda b: b.has_written, timeout=60)
        assert written is not None, "the upload never started writing"
    finally:
        writer.close()  # ...and then the client is gone.
    async with live_db.connect() as connection:

        async def rolled_back() -> bool:
            found = await connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND backend_xid IS NOT NULL"
                    " AND pid <> pg_backend_pid()"
                )
            )
            await connection.commit()
            return int(found.scalar_one()) == 0

        assert await wait_for(rolled_back, timeout=60)
    assert await assert_metrics_whole(live_db, account.id, {0}) == 0
    # The same upload sent whole is stored whole.
    async with httpx.AsyncClient(base_url=live_server.base_url, timeout=120) as client:
        sent = await client.post(
            "/api/encryption/metrics",
            content=chunks(batch.body),
            headers={**account.headers, "Content-Type": "application/json"},
        )
    assert sent.status_code == 201, sent.text
    assert await assert_metrics_whole(live_db, account.id, {60}) == 60


async def test_a_streamed_upload_holds_a_chunk_not_the_body(
    live_server: LiveServer, live_db: AsyncEngine, he_vectors: dict[str, Any]
) -> None:
    await live_server.start()
    assert live_server.process is not None
    pid = live_server.process.pid
    account = await analytics_account(live_server, he_vectors)
    batch = metrics_batch(he_vectors, 400)  # ~180 MB of JSON
    async with httpx.AsyncClient(base_url=live_server.base_url, timeout=300) as client:
        warm = metrics_batch(he_vectors, 60)  # first use of SEAL, parser and pools
        answer = await client.post(
            "/api/encryption/metrics",
            content=warm.body,
            headers={**account.headers, "Content-Type": "application/json"},
        )
        assert answer.status_code == 201, answer.text
        before = resident_bytes(pid)
        reset_peak(pid)
        answer = await client.post(
            "/api/encryption/metrics",
            content=chunks(batch.body),
            headers={**account.headers, "Content-Type": "application/json"},
        )
        assert answer.status_code == 201, answer.text
    peak_growth = resident_bytes(pid, "VmHWM") - before
    body = len(batch.body)
    # Holding the body would cost at least its size (~180 MB); a chunk of 50 metrics ~40 MB.
    assert peak_growth < body / 2, f"peak grew by {peak_growth} for a {body}-byte body"
    assert await assert_metrics_whole(live_db, account.id, {460}) == 460
