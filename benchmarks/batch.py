"""A device coming online with 1,000 new entries: one per request against batches of 500.

    python -m benchmarks.batch                      # 1,000 new 2 KiB entries, 3 rounds
    python -m benchmarks.batch --pg-url postgresql://postgres@127.0.0.1:5432/postgres

Starts ``reflective serve`` (one worker, production settings) on a fresh database of the
PostgreSQL at ``--pg-url`` (an embedded one when ``--embedded``), registers one full_sync user
per round and mode, then pushes ``--entries`` new 2 KiB entries from one device:

- single: ``POST /api/sync/backup``, one entry per request, one request after another (as the
  device did before batches);
- batch: ``POST /api/sync/batch`` with ``--batch`` entries per request.

Reported per mode: the median and range over the rounds of the wall time to push them all
(client side, one keep-alive connection) and of the server's CPU time (user + system of its
processes, from /proc) over the same interval, plus the load average before and after: the
client runs on the same machine, and the machine may be shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from dataclasses import dataclass

from tests.load.server import DEFAULT_PG_URL, cleanup, serving

from benchmarks.sync import CONTENT, Connection, expect, load_average, make_users


@dataclass
class Round:
    mode: str
    wall: float
    cpu: float


def item(device: str) -> dict[str, str]:
    return {
        "id": str(uuid.uuid4()),
        "encrypted_content": CONTENT,
        "content_iv": "AAAAAAAAAAAAAAAA",  # 12 bytes; each entry differs by its id
        "content_tag": "AAAAAAAAAAAAAAAAAAAAAA==",
        "created_at": "2026-11-01T08:00:00Z",
        "updated_at": "2026-11-01T09:00:00Z",
        "device_id": device,
    }


async def push_all(port: int, headers: dict[str, str], mode: str, entries: int, size: int) -> None:
    items = [item("offline-laptop") for _ in range(entries)]
    conn = Connection(port)
    try:
        if mode == "single":
            for body in items:
                await expect(
                    conn, "POST", "/api/sync/backup", headers, json.dumps(body).encode(), 201
                )
        else:
            for start in range(0, entries, size):
                body = json.dumps({"entries": items[start : start + size]}).encode()
                answer = await expect(conn, "POST", "/api/sync/batch", headers, body, 200)
                assert answer["stored"] == len(items[start : start + size]), answer
    finally:
        await conn.close()


async def run(pg_url: str, entries: int, size: int, rounds: int) -> list[Round]:
    results: list[Round] = []
    async with serving(1, pg_url=pg_url) as env:
        port = int(env.base_url.rsplit(":", 1)[1])
        for _ in range(rounds):
            for mode in ("single", "batch"):
                [user] = await make_users(port, 1, 0)
                cpu_before, started = env.server.cpu_seconds(), time.monotonic()
                await push_all(port, user.headers, mode, entries, size)
                wall = time.monotonic() - started
                results.append(Round(mode, wall, env.server.cpu_seconds() - cpu_before))
                print(f"{mode}: {wall:.2f} s wall, {results[-1].cpu:.2f} s server CPU", flush=True)
    return results


def summary(results: list[Round], entries: int, size: int) -> None:
    print("\n| mode | requests | wall time, median (range) | server CPU, median (range) |")
    print("|---|---:|---:|---:|")
    for mode in ("single", "batch"):
        mine = [r for r in results if r.mode == mode]
        walls, cpus = [r.wall for r in mine], [r.cpu for r in mine]
        requests = entries if mode == "single" else -(-entries // size)
        label = "one per request" if mode == "single" else f"batches of {size}"
        print(
            f"| {label} | {requests:,} | {statistics.median(walls):.2f} s "
            f"({min(walls):.2f}-{max(walls):.2f}) | {statistics.median(cpus):.2f} s "
            f"({min(cpus):.2f}-{max(cpus):.2f}) |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.batch", description=__doc__)
    parser.add_argument("--pg-url", default=os.environ.get("DATABASE_URL", DEFAULT_PG_URL))
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"# python -m benchmarks.batch, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"# {os.cpu_count()} CPUs; load before: {load_average()}", flush=True)
    try:
        results = asyncio.run(run(args.pg_url, args.entries, args.batch, args.rounds))
    finally:
        cleanup()
    print(f"# load after: {load_average()}")
    summary(results, args.entries, args.batch)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
