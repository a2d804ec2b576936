"""Packed metrics (the SDK's format) against single values (the web client's), bytes stored.

    python -m benchmarks.packed --database-url postgresql://postgres@127.0.0.1/test
    python -m benchmarks.packed --entries 2000 --no-single

For each journal size (one entry a day going back from 2026-11-28, two metrics an entry:
word_count and sentiment_score) it starts `reflective serve` on a fresh database, registers a
user whose lean CKKS keys (8192 / [60, 40, 60]) are made here, and:

- packed: encrypts one ciphertext per metric type and UTC year as the SDK does (seeded,
  secret-key encryption), uploads them in one `POST /api/encryption/packed-metrics`, then one
  more delta per year and type (an edit a year), so every stored year is a summed, full-size
  ciphertext: the steady state of a device that syncs. Stored bytes per metric are what
  PostgreSQL holds for the years and the upload keys (`pg_column_size`), over 2 x entries.
  Aggregation: `GET /api/encryption/packed-aggregate` of one type (every year), and the
  client's decryption and range sums, each timed; the decrypted sums are checked.
- single (unless --no-single): the same journal as single-value lean ciphertexts, public-key
  encrypted as the web client does, in one `POST /api/encryption/metrics`; stored bytes per
  metric are metric rows and rollups, as in `benchmarks.upgrade`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import statistics
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import asyncpg
import httpx

from benchmarks.aggregate import (
    _asyncpg_dsn,
    _iso,
    create_database,
    database_server,
    drop_database,
    server,
    sign_up_for_analytics,
)
from reflective_domain.he_params import CkksParameters
from reflective_domain.packed import COUNT_OFFSET, SLOTS_USED, slot_of

UTC = timezone.utc
LAST_DAY = date(2026, 11, 28)
TYPES = ("word_count", "sentiment_score")
POOL = 32  # distinct single-value ciphertexts per type, reused (see benchmarks.upgrade)
REPEATS = 5


@dataclass
class Result:
    fmt: str
    entries: int
    metrics: int
    ciphertexts: int
    encrypt_s: float
    upload_s: float
    stored_per_metric: float
    aggregate_ms: float
    decrypt_ms: float
    error: float


def journal(entries: int) -> dict[date, tuple[float, float]]:
    return {
        LAST_DAY - timedelta(days=i): (float(100 + 37 * (i % 50)), round(-1 + (i % 21) / 10, 3))
        for i in range(entries)
    }


def packed_years(
    days: dict[date, tuple[float, float]],
) -> dict[tuple[str, int], list[float]]:
    slots: dict[tuple[str, int], list[float]] = defaultdict(lambda: [0.0] * SLOTS_USED)
    for day, values in days.items():
        for kind, value in zip(TYPES, values, strict=True):
            vector = slots[(kind, day.year)]
            vector[slot_of(day)] += value
            vector[COUNT_OFFSET + slot_of(day)] += 1
    return dict(slots)


async def run_packed(base: str, database_url: str, entries: int) -> Result:
    days = journal(entries)
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(600, connect=10)) as http:
        keys = await sign_up_for_analytics(http, CkksParameters.lean(), "packed")
        started = time.perf_counter()
        years = packed_years(days)
        items = [
            {"metric_type": kind, "year": year, "ciphertext": _b64(keys.encrypt_slots(slots))}
            for (kind, year), slots in sorted(years.items())
        ]
        encrypt_s = time.perf_counter() - started
        started = time.perf_counter()
        answer = await http.post("/api/encryption/packed-metrics", json={"packed": items})
        upload_s = time.perf_counter() - started
        assert answer.status_code == 201, answer.text
        # One edit a year (the first day of the year held: +1 word), so every stored year
        # is a sum of two uploads, as after any later sync.
        edits = []
        for kind, year in sorted(years):
            delta = [0.0] * SLOTS_USED
            if kind == "word_count":
                first = min(d for d in days if d.year == year)
                delta[slot_of(first)] = 1.0
                w, s = days[first]
                days[first] = (w + 1, s)
            edits.append(
                {"metric_type": kind, "year": year, "ciphertext": _b64(keys.encrypt_slots(delta))}
            )
        assert (
            await http.post("/api/encryption/packed-metrics", json={"packed": edits})
        ).status_code == 201
        aggregate, decrypt = [], []
        error = 0.0
        for _ in range(REPEATS):
            started = time.perf_counter()
            got = await http.get(
                "/api/encryption/packed-aggregate", params={"metric_type": "word_count"}
            )
            aggregate.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            total = count = 0.0
            for window in got.json()["windows"]:
                slots = keys.decrypt_slots(base64.b64decode(window["ciphertext"]), SLOTS_USED)
                total += sum(slots[:COUNT_OFFSET])
                count += sum(slots[COUNT_OFFSET:])
            decrypt.append((time.perf_counter() - started) * 1000)
            want = sum(w for w, _ in days.values())
            assert round(count) == entries, count
            error = max(error, abs(total - want))
    stored = await _stored(
        database_url,
        "SELECT (SELECT coalesce(sum(pg_column_size(ciphertext)), 0) FROM packed_metrics)"
        " + (SELECT coalesce(sum(pg_column_size(upload_key)), 0) FROM packed_metric_uploads)",
    )
    return Result(
        "packed",
        entries,
        2 * entries,
        len(years),
        encrypt_s,
        upload_s,
        stored / (2 * entries),
        statistics.median(aggregate),
        statistics.median(decrypt),
        error,
    )


async def run_single(base: str, database_url: str, entries: int) -> Result:
    days = journal(entries)
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(900, connect=10)) as http:
        keys = await sign_up_for_analytics(http, CkksParameters.lean(), "single")
        started = time.perf_counter()
        pools = {
            kind: [
                (v, _b64(keys.encrypt(v, symmetric=False)))
                for v in sorted({values[i] for values in days.values()})[:POOL]
            ]
            for i, kind in enumerate(TYPES)
        }
        encrypt_s = time.perf_counter() - started
        chosen: dict[date, list[tuple[float, str]]] = {
            day: [pools[kind][n % len(pools[kind])] for kind in TYPES]
            for n, day in enumerate(sorted(days))
        }

        async def body() -> AsyncIterator[bytes]:
            yield b'{"metrics": ['
            for n, (day, pair) in enumerate(chosen.items()):
                at = _iso(datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=20))
                items = [
                    {
                        "metric_type": kind,
                        "encrypted_value": ct,
                        "timestamp": at,
                        "log_id": f"e-{n}",
                    }
                    for kind, (_, ct) in zip(TYPES, pair, strict=True)
                ]
                yield ("," if n else "").encode() + json.dumps(items)[1:-1].encode()
            yield b"]}"

        started = time.perf_counter()
        answer = await http.post(
            "/api/encryption/metrics", content=body(), headers={"Content-Type": "application/json"}
        )
        upload_s = time.perf_counter() - started
        assert answer.status_code == 201, answer.text
        aggregate, decrypt = [], []
        error = 0.0
        for _ in range(REPEATS):
            started = time.perf_counter()
            got = await http.post(
                "/api/encryption/aggregate", json={"metric_type": "word_count", "operation": "sum"}
            )
            aggregate.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            total = keys.decrypt(base64.b64decode(got.json()["encrypted_result"]))
            decrypt.append((time.perf_counter() - started) * 1000)
            want = sum(pair[0][0] for pair in chosen.values())
            error = max(error, abs(total - want))
    stored = await _stored(
        database_url,
        "SELECT (SELECT coalesce(sum(pg_column_size(ciphertext)), 0) FROM metrics)"
        " + (SELECT coalesce(sum(pg_column_size(ciphertext)), 0) FROM metric_rollups)",
    )
    return Result(
        "single (lean)",
        entries,
        2 * entries,
        2 * entries,
        encrypt_s,
        upload_s,
        stored / (2 * entries),
        statistics.median(aggregate),
        statistics.median(decrypt),
        error,
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def _stored(database_url: str, query: str) -> int:
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        return int(await conn.fetchval(query))
    finally:
        await conn.close()


async def main_async(entries: list[int], single: bool, database_url: str | None) -> None:
    load = os.getloadavg()
    print(f"# Packed metrics benchmark ({os.cpu_count()} cores, load {load[0]:.2f})\n")
    results: list[Result] = []
    runs = [run_packed] + ([run_single] if single else [])
    with database_server(database_url or os.environ.get("DATABASE_URL")) as server_url:
        for n in entries:
            for run in runs:
                db = f"bench_{secrets.token_hex(4)}"
                db_url = await create_database(server_url, db)
                try:
                    with server(db_url) as (base, _pid):
                        results.append(await run(base, db_url, n))
                        print(f"  done {results[-1].fmt} {n}", flush=True)
                finally:
                    await drop_database(server_url, db)
    print(f"\nload after: {os.getloadavg()[0]:.2f}\n")
    print(
        "| format | entries | metrics | ciphertexts uploaded | client encryption (s) "
        "| upload (s) | stored per metric (KB) | aggregate, all years (ms) | client decryption "
        "(ms) | sum error |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.fmt} | {r.entries:,} | {r.metrics:,} | {r.ciphertexts:,} | {r.encrypt_s:.2f} "
            f"| {r.upload_s:.2f} | {r.stored_per_metric / 1000:.2f} | {r.aggregate_ms:.1f} "
            f"| {r.decrypt_ms:.1f} | {r.error:.2g} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, nargs="+", default=[2000])
    parser.add_argument("--no-single", dest="single", action="store_false")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    asyncio.run(main_async(args.entries, args.single, args.database_url))


if __name__ == "__main__":
    main()
