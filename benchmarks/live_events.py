"""Live sync: how soon a write on one worker reaches a subscriber on another, and what idle
event streams cost a worker in memory.

    python -m benchmarks.live_events [--writes 500] [--streams 1000] [--pg-url URL]

1. ``reflective serve --workers 2`` on a fresh database. A subscriber holds
   ``GET /api/sync/events`` on one worker; a writer whose keep-alive connection another
   worker accepted (told apart through Linux's /proc) pushes entries one at a time. For each
   push: the time from reading its 201 to reading the event carrying its cursor (negative
   when the event arrived first: NOTIFY is delivered at commit, the 201 is written after).
2. ``reflective serve --workers 1``: the worker's resident memory (VmRSS) before and after
   opening ``--streams`` idle streams.

Prints a Markdown table for BENCHMARKS.md, with the machine's load average.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from tests.load.server import DEFAULT_PG_URL, Environment, serving

PASSWORD = "correct horse battery"
MIB = 1024 * 1024


# --- which worker holds a connection (Linux /proc) -----------------------------------------


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
    return found


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    return inodes


def owner_of(server_pid: int, server_port: int, client_port: int) -> int:
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                f = line.split()
                local, remote = int(f[1].rsplit(":", 1)[1], 16), int(f[2].rsplit(":", 1)[1], 16)
                if local == server_port and remote == client_port:
                    inode = f[9]
    assert inode is not None, "connection not found"
    for pid in children_of(server_pid):
        if inode in socket_inodes(pid):
            return pid
    raise RuntimeError("no worker holds the connection")


def client_port(response: httpx.Response) -> int:
    port: int = response.extensions["network_stream"].get_extra_info("client_addr")[1]
    return port


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


# --- helpers -------------------------------------------------------------------------------


async def sign_up(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    created = await client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    created.raise_for_status()
    login = await client.post("/api/auth/token", data={"username": email, "password": PASSWORD})
    login.raise_for_status()
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def full_sync(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    # full_sync needs an HE public key; the test vectors' key serves.
    vectors = json.loads(
        (Path(__file__).parents[1] / "tests" / "data" / "he_ckks_node_seal_6.json").read_text()
    )
    answer = await client.put(
        "/api/users/me/privacy",
        json={
            "privacy_tier": "full_sync",
            "consent_timestamp": "2026-11-01T10:00:00Z",
            "he_public_key": vectors["public_key"],
        },
        headers=headers,
    )
    answer.raise_for_status()


def entry(index: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "encrypted_content": base64.b64encode(os.urandom(256)).decode(),
        "content_iv": base64.b64encode(os.urandom(12)).decode(),
        "content_tag": base64.b64encode(os.urandom(16)).decode(),
        "created_at": "2026-11-01T08:00:00Z",
        "updated_at": "2026-11-01T09:00:00Z",
        "device_id": "bench-writer",
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


# --- 1. latency across workers -------------------------------------------------------------


async def latency(env: Environment, writes: int) -> dict[str, Any]:
    server = env.server
    assert server._process is not None
    supervisor = server._process.pid
    async with httpx.AsyncClient(base_url=env.base_url, timeout=60) as setup:
        headers = await sign_up(setup, "bench-latency@example.com")
        await full_sync(setup, headers)
    arrivals: dict[str, float] = {}
    async with (
        httpx.AsyncClient(base_url=env.base_url, timeout=60) as listening,
        listening.stream("GET", "/api/sync/events", headers=headers) as stream,
    ):
        lines = stream.aiter_lines()
        async for line in lines:  # registered once its first comment arrives
            if line.startswith(":"):
                break
        subscriber = owner_of(supervisor, server.port, client_port(stream))
        reader = asyncio.create_task(read_remaining(lines, arrivals))
        writer = None
        for _ in range(200):
            candidate = httpx.AsyncClient(
                base_url=env.base_url,
                timeout=60,
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            )
            probe = await candidate.get("/api/health")
            if owner_of(supervisor, server.port, client_port(probe)) != subscriber:
                writer = candidate
                break
            await candidate.aclose()
        assert writer is not None, "every connection went to the subscriber's worker"
        samples: list[float] = []
        # From sending the push: an upper bound that never goes negative (the event often
        # arrives before the 201, since PostgreSQL notifies at commit).
        from_send: list[float] = []
        try:
            for index in range(1, writes + 1):
                sent = time.perf_counter()
                answer = await writer.post("/api/sync/backup", json=entry(index), headers=headers)
                answered = time.perf_counter()
                assert answer.status_code == 201, answer.text
                assert owner_of(supervisor, server.port, client_port(answer)) != subscriber
                cursor = str(index)
                deadline = answered + 10
                while cursor not in arrivals:
                    assert time.perf_counter() < deadline, f"no event for write {index}"
                    await asyncio.sleep(0.0005)
                samples.append((arrivals[cursor] - answered) * 1000)
                from_send.append((arrivals[cursor] - sent) * 1000)
        finally:
            await writer.aclose()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    return {
        "writes": writes,
        "p50_ms": percentile(samples, 50),
        "p99_ms": percentile(samples, 99),
        "max_ms": max(samples),
        "event_before_201": sum(1 for s in samples if s < 0),
        "send_p50_ms": percentile(from_send, 50),
        "send_p99_ms": percentile(from_send, 99),
        "send_max_ms": max(from_send),
    }


async def read_remaining(lines: Any, arrivals: dict[str, float]) -> None:
    async for line in lines:
        if line.startswith("id: "):
            arrivals[line[4:]] = time.perf_counter()


# --- 2. memory of idle streams -------------------------------------------------------------


async def open_raw_stream(port: int, authorization: str) -> asyncio.StreamWriter:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            "GET /api/sync/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: {authorization}\r\nAccept: text/event-stream\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    received = b""
    while b"subscribed" not in received:
        chunk = await asyncio.wait_for(reader.read(4096), 30)
        assert chunk, "stream closed"
        received += chunk
    assert received.startswith(b"HTTP/1.1 200"), received[:200]
    return writer


async def memory(env: Environment, streams: int) -> dict[str, Any]:
    server = env.server
    assert server._process is not None
    async with httpx.AsyncClient(base_url=env.base_url, timeout=60) as setup:
        headers = await sign_up(setup, "bench-memory@example.com")
        # Warm the worker up (routes, DI, a stream opened and closed) before the baseline.
        for _ in range(3):
            await setup.get("/api/auth/sessions", headers=headers)
    warm = await open_raw_stream(server.port, headers["Authorization"])
    warm.close()
    await asyncio.sleep(1)
    (worker,) = [p for p in children_of(server._process.pid) if socket_inodes(p)] or [
        server._process.pid
    ]
    before = rss_bytes(worker)
    writers = []
    try:
        for start in range(0, streams, 100):
            batch = [
                open_raw_stream(server.port, headers["Authorization"])
                for _ in range(min(100, streams - start))
            ]
            writers.extend(await asyncio.gather(*batch))
        await asyncio.sleep(2)
        after = rss_bytes(worker)
    finally:
        for writer in writers:
            writer.close()
    return {
        "streams": streams,
        "rss_before_mib": before / MIB,
        "rss_after_mib": after / MIB,
        "per_1000_mib": (after - before) / MIB * 1000 / streams,
    }


# --- main ----------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    os.environ["MAX_EVENT_STREAMS_PER_USER"] = str(args.streams + 10)
    # Every open stream is a connection, and LIMIT_CONCURRENCY (1,000 per worker by default)
    # counts connections: the streams plus the setup and warm-up requests must fit under it.
    os.environ["LIMIT_CONCURRENCY"] = str(args.streams + 100)
    load_before = os.getloadavg()
    async with serving(2, pg_url=args.pg_url, log_level="INFO") as env:
        timing = await latency(env, args.writes)
    async with serving(1, pg_url=args.pg_url, log_level="INFO") as env:
        mem = await memory(env, args.streams)
    load_after = os.getloadavg()
    print("| measure | result |")
    print("|---|---|")
    print(
        f"| push 201 → event on the other worker, {timing['writes']} writes | "
        f"p50 {timing['p50_ms']:.2f} ms, p99 {timing['p99_ms']:.2f} ms, "
        f"max {timing['max_ms']:.2f} ms ({timing['event_before_201']} events read before "
        "their 201) |"
    )
    print(
        f"| push sent → event on the other worker, {timing['writes']} writes | "
        f"p50 {timing['send_p50_ms']:.2f} ms, p99 {timing['send_p99_ms']:.2f} ms, "
        f"max {timing['send_max_ms']:.2f} ms |"
    )
    print(
        f"| {mem['streams']} idle streams on one worker | "
        f"{mem['rss_before_mib']:.1f} → {mem['rss_after_mib']:.1f} MiB RSS: "
        f"{mem['per_1000_mib']:.1f} MiB per 1,000 streams |"
    )
    print(
        f"\nload average (1/5/15 min) before {load_before[0]:.2f}/{load_before[1]:.2f}/"
        f"{load_before[2]:.2f}, after {load_after[0]:.2f}/{load_after[1]:.2f}/"
        f"{load_after[2]:.2f}; {os.cpu_count()} CPUs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=500)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="server for a fresh database")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
