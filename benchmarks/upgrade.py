"""The web client's upgrade: every entry's two metrics in ONE request, through the real server.

    python -m benchmarks.upgrade --database-url postgresql://postgres@127.0.0.1/test
    python -m benchmarks.upgrade --entries 500 2000 5000 --parameters original lean

For each parameter set and journal size it starts `reflective serve` on a fresh database,
registers a user whose CKKS keys are made here (the client side) under that parameter set,
then posts word_count and sentiment_score for every entry (one entry a day, going back from
2026-11-28) in a single `POST /api/encryption/metrics`, streamed from a generator so the
client never holds the body. It reports the time to the 201 (the web client gives up after
30 s), the body size, the server's resident memory before and its peak during the upload
(VmHWM, reset just before), the ciphertext's size as sent and as stored (the server's compact
storage encoding), the stored bytes per metric (metric rows and rollups, as PostgreSQL stores
them) and the decrypted sums against the plaintext.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import httpx

from benchmarks.aggregate import (
    _asyncpg_dsn,
    _iso,
    create_database,
    database_server,
    drop_database,
    peak_rss_mib,
    rss_mib,
    server,
    sign_up_for_analytics,
)
from reflective_domain.he_params import CkksParameters

UTC = timezone.utc
LAST_DAY = datetime(2026, 11, 28, 20, tzinfo=UTC)
POOL = 32  # distinct ciphertexts per type, reused: encrypting thousands would time the client
PARAMETERS = {"original": CkksParameters.original(), "lean": CkksParameters.lean()}


@dataclass
class Result:
    parameters: str
    entries: int
    metrics: int
    seconds: float
    status: int
    body_mib: float
    rss_before_mib: float
    peak_rss_mib: float
    stored_bytes_per_metric: float
    ciphertext_bytes: float
    sent_bytes: float
    error: float


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


async def run_one(base: str, pid: int, database_url: str, name: str, entries: int) -> Result:
    parameters = PARAMETERS[name]
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(600, connect=10)) as http:
        keys = await sign_up_for_analytics(http, parameters, "up")

        words = [float(100 + 37 * i) for i in range(POOL)]
        moods = [round(-1 + 2 * i / (POOL - 1), 3) for i in range(POOL)]
        word_cts = [base64.b64encode(keys.encrypt(v, symmetric=False)).decode() for v in words]
        mood_cts = [base64.b64encode(keys.encrypt(v, symmetric=False)).decode() for v in moods]
        sent = sum(len(base64.b64decode(c)) for c in word_cts + mood_cts) / (2 * POOL)
        size = 0

        async def body() -> AsyncIterator[bytes]:
            nonlocal size
            yield b'{"metrics": ['
            size += 13
            for i in range(entries):
                at = _iso(LAST_DAY - timedelta(days=i))
                log_id = f"entry-{i}"
                pair = [
                    {
                        "metric_type": "word_count",
                        "encrypted_value": word_cts[i % POOL],
                        "timestamp": at,
                        "log_id": log_id,
                    },
                    {
                        "metric_type": "sentiment_score",
                        "encrypted_value": mood_cts[i % POOL],
                        "timestamp": at,
                        "log_id": log_id,
                    },
                ]
                piece = ("," if i else "").encode() + json.dumps(pair)[1:-1].encode()
                size += len(piece)
                yield piece
            yield b"]}"
            size += 2

        rss_before = rss_mib(pid)
        _reset_peak(pid)
        started = time.perf_counter()
        answer = await http.post(
            "/api/encryption/metrics", content=body(), headers={"Content-Type": "application/json"}
        )
        seconds = time.perf_counter() - started
        peak = peak_rss_mib(pid)
        error = float("nan")
        if answer.status_code == 201:
            total = await http.post(
                "/api/encryption/aggregate", json={"metric_type": "word_count", "operation": "sum"}
            )
            got = keys.decrypt(base64.b64decode(total.json()["encrypted_result"]))
            want = sum(words[i % POOL] for i in range(entries))
            error = abs(got - want)
            assert total.json()["count"] == entries
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM metrics) AS n,"
            " (SELECT coalesce(sum(pg_column_size(ciphertext)), 0) FROM metrics) AS m,"
            " (SELECT coalesce(sum(octet_length(ciphertext)), 0) FROM metrics) AS raw,"
            " (SELECT coalesce(sum(pg_column_size(ciphertext)), 0) FROM metric_rollups) AS r"
        )
    finally:
        await conn.close()
    n = int(row["n"]) or 1
    return Result(
        name,
        entries,
        2 * entries,
        seconds,
        answer.status_code,
        size / 2**20,
        rss_before,
        peak,
        (int(row["m"]) + int(row["r"])) / n,
        int(row["raw"]) / n,
        sent,
        error,
    )


async def main_async(entries: list[int], names: list[str], database_url: str | None) -> None:
    load = os.getloadavg()
    print(f"# Web-client upgrade benchmark ({os.cpu_count()} cores, load {load[0]:.2f})\n")
    results: list[Result] = []
    with database_server(database_url or os.environ.get("DATABASE_URL")) as server_url:
        for name in names:
            for n in entries:
                db = f"bench_{secrets.token_hex(4)}"
                db_url = await create_database(server_url, db)
                try:
                    with server(db_url) as (base, pid):
                        results.append(await run_one(base, pid, db_url, name, n))
                        r = results[-1]
                        print(f"  done {name} {n}: {r.status} in {r.seconds:.1f} s", flush=True)
                finally:
                    await drop_database(server_url, db)
    print(f"\nload after: {os.getloadavg()[0]:.2f}\n")
    print(
        "| parameters | entries | metrics | body (MiB) | answer | time (s) | server RSS before "
        "(MiB) | peak growth (MiB) | ciphertext sent (KB) | ciphertext stored (KB) "
        "| stored per metric (KB) | sum error |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.parameters} | {r.entries:,} | {r.metrics:,} | {r.body_mib:,.0f} | {r.status} "
            f"| {r.seconds:.1f} | {r.rss_before_mib:.0f} | {r.peak_rss_mib - r.rss_before_mib:.0f}"
            f" | {r.sent_bytes / 1000:.0f} | {r.ciphertext_bytes / 1000:.0f}"
            f" | {r.stored_bytes_per_metric / 1000:.0f} "
            f"| {r.error:.2g} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, nargs="+", default=[500, 2000, 5000])
    parser.add_argument("--parameters", nargs="+", default=["original", "lean"])
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    asyncio.run(main_async(args.entries, args.parameters, args.database_url))


if __name__ == "__main__":
    main()
