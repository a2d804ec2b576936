"""Encrypted aggregation: daily rollups against the naive sum, through the real server.

    python -m benchmarks.aggregate                      # N = 1,000 and 10,000
    python -m benchmarks.aggregate --sizes 1000 --database-url postgresql://postgres@127.0.0.1/test
    python -m benchmarks.aggregate --sizes 100000 --batch 5000 --no-naive  # a year, 100,000

For each N it starts `reflective serve` on PostgreSQL (a fresh database created for the run on
the server of --database-url / DATABASE_URL, else an embedded PostgreSQL in a temporary
directory), registers a user with CKKS keys made here (the client side), uploads N metrics
spread over a year in requests of 1,000 (the web client's single-request upload), then times
aggregation over the whole year, one month and one day next to the naive baseline measured in
the same run: load every ciphertext in range from the database and add them one by one with
the server's own SEAL adapter. Every result is decrypted here and checked. It also reports
what PostgreSQL stores for the metrics and their rollups (tables, TOAST and indexes).

``--batch`` sets the metrics per upload request (bodies are streamed, never held);
``--no-naive`` skips the baseline, which at 100,000 metrics would read ~20 GB per call. For
large runs the server's per-user metric quota and upload rate limit are lifted (they are not
what is measured).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from reflective_adapters.he import SealAggregator
from reflective_adapters.postgres.embedded import start_embedded, stop_embedded
from reflective_client.crypto.he import CkksKeys
from reflective_domain.he_params import CkksParameters

UTC = timezone.utc
YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)
BATCH = 1000
POOL = 128  # distinct ciphertexts, reused: encrypting 10,000 would only time the client
REPEATS = 5


@dataclass(frozen=True)
class Window:
    name: str
    start: datetime | None
    end: datetime | None

    def contains(self, moment: datetime) -> bool:
        return self.start is None or (self.start <= moment <= self.end)  # type: ignore[operator]

    def body(self) -> dict[str, Any]:
        if self.start is None or self.end is None:
            return {}
        return {"time_range": {"start": _iso(self.start), "end": _iso(self.end)}}


WINDOWS = (
    Window("year", None, None),
    # A month and a day that do not start at midnight: the cut edges come from raw metrics.
    Window("month", datetime(2025, 6, 1, 6, tzinfo=UTC), datetime(2025, 7, 1, 5, 59, tzinfo=UTC)),
    Window("day", datetime(2025, 9, 15, 0, tzinfo=UTC), datetime(2025, 9, 15, 23, 59, tzinfo=UTC)),
)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def database_server(url: str | None) -> Iterator[str]:
    """A PostgreSQL server URL: the one given, or an embedded one for the run."""
    if url:
        yield url
        return
    data_dir = Path(tempfile.mkdtemp(prefix="reflective-bench-"))
    try:
        yield start_embedded(data_dir)
    finally:
        stop_embedded(data_dir)


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    root = base.rsplit("/", 1)[0]
    return f"{root}/{name}" + (f"?{query}" if query else "")


async def create_database(server_url: str, name: str) -> str:
    conn = await asyncpg.connect(_asyncpg_dsn(server_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return _with_database(server_url, name)


async def drop_database(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(server_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@contextmanager
def server(database_url: str, **extra_env: str) -> Iterator[tuple[str, int]]:
    """`reflective serve` on a free port; yields its base URL and pid."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "REFLECTIVE_DATA_DIR": tempfile.mkdtemp(prefix="reflective-bench-data-"),
        "LOG_LEVEL": "WARNING",
        **extra_env,
    }
    cmd = [sys.executable, "-c", "from reflective_app.cli import main; main()", "serve"]
    cmd += ["--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{base}/api/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            raise RuntimeError("server did not become ready")
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Row:
    n: int
    window: str
    in_range: int
    rollup_ms: float
    naive_ms: float
    error: float


async def sign_up_for_analytics(
    http: httpx.AsyncClient, parameters: CkksParameters, prefix: str
) -> CkksKeys:
    """A new account on analytics_sync under fresh keys; ``http`` then carries its token."""
    keys = CkksKeys.generate(parameters)
    email = f"{prefix}-{secrets.token_hex(4)}@example.com"
    password = secrets.token_urlsafe(16)
    assert (
        await http.post("/api/auth/register", json={"email": email, "password": password})
    ).status_code == 201
    token = (
        await http.post("/api/auth/token", data={"username": email, "password": password})
    ).json()["access_token"]
    http.headers["Authorization"] = f"Bearer {token}"
    upgraded = await http.put(
        "/api/users/me/privacy",
        json={
            "privacy_tier": "analytics_sync",
            "consent_timestamp": _iso(datetime.now(UTC)),
            "he_public_key": base64.b64encode(keys.public_key_bytes).decode(),
        },
    )
    assert upgraded.status_code == 200, upgraded.text
    return keys


async def run_size(
    base: str, pid: int, database_url: str, n: int, batch_size: int = BATCH, naive: bool = True
) -> tuple[list[Row], dict]:
    # The web client's upload timeout, unless the batches are larger than it sends.
    timeout = httpx.Timeout(30.0 if batch_size <= BATCH else 3600.0, connect=10.0)
    async with httpx.AsyncClient(base_url=base, timeout=timeout) as http:
        announced = (await http.get("/api/encryption/context")).json()["context_params"]
        parameters = CkksParameters(
            announced["poly_modulus_degree"],
            tuple(announced["coeff_mod_bit_sizes"]),
            float(announced["scale"]),
        )
        keys = await sign_up_for_analytics(http, parameters, "bench")

        values = [float(i % 997) + 0.25 for i in range(POOL)]
        pool = [base64.b64encode(keys.encrypt(v, symmetric=False)).decode() for v in values]
        step = timedelta(days=365) / n
        metrics = [
            (YEAR_START + step * i + timedelta(seconds=7), values[i % POOL], pool[i % POOL])
            for i in range(n)
        ]

        upload_seconds: list[float] = []
        body_mib: list[float] = []
        rss_before = rss_mib(pid)
        for i in range(0, n, batch_size):
            batch = metrics[i : i + batch_size]
            sent = [0]

            async def body(
                batch: list[tuple[datetime, float, str]] = batch, sent: list[int] = sent
            ) -> AsyncIterator[bytes]:
                for k, (t, _, ct) in enumerate(batch):
                    item = {
                        "metric_type": "word_count",
                        "timestamp": _iso(t),
                        "encrypted_value": ct,
                    }
                    piece = (b'{"metrics":[' if k == 0 else b",") + json.dumps(item).encode()
                    sent[0] += len(piece)
                    yield piece
                sent[0] += 2
                yield b"]}"

            started = time.perf_counter()
            response = await http.post(
                "/api/encryption/metrics",
                content=body(),
                headers={"Content-Type": "application/json"},
            )
            upload_seconds.append(time.perf_counter() - started)
            body_mib.append(sent[0] / 2**20)
            assert response.status_code == 201, response.text
            if n > 10 * BATCH:
                print(
                    f"  uploaded {i + len(batch):,}/{n:,} in {upload_seconds[-1]:.1f} s"
                    f" (load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
        upload = {
            "requests": len(upload_seconds),
            "body_mib": statistics.mean(body_mib),
            "median_s": statistics.median(upload_seconds),
            "max_s": max(upload_seconds),
            "rss_before_mib": rss_before,
            "peak_rss_mib": peak_rss_mib(pid),
        }

        rows = []
        aggregator = SealAggregator()
        conn = await asyncpg.connect(_asyncpg_dsn(database_url))
        try:
            for window in WINDOWS:
                expected = [v for t, v, _ in metrics if window.contains(t)]
                request = {"metric_type": "word_count", "operation": "sum", **window.body()}
                timings = []
                for _ in range(REPEATS):
                    started = time.perf_counter()
                    answer = await http.post("/api/encryption/aggregate", json=request)
                    timings.append(time.perf_counter() - started)
                    assert answer.status_code == 200, answer.text
                result = answer.json()
                assert result["count"] == len(expected)
                total = keys.decrypt(base64.b64decode(result["encrypted_result"]))

                naive_timings = []
                error = abs(total - sum(expected))
                for _ in range(max(1, REPEATS // 2) if naive else 0):
                    started = time.perf_counter()
                    naive_result = await naive_sum(conn, aggregator, parameters, window)
                    naive_timings.append(time.perf_counter() - started)
                    naive_total = keys.decrypt(naive_result)
                    error = max(error, abs(naive_total - sum(expected)))
                rows.append(
                    Row(
                        n,
                        window.name,
                        len(expected),
                        statistics.median(timings) * 1000,
                        statistics.median(naive_timings) * 1000 if naive_timings else float("nan"),
                        error,
                    )
                )
            upload.update(await stored_bytes(conn))
        finally:
            await conn.close()
    return rows, upload


async def stored_bytes(conn: asyncpg.Connection) -> dict[str, float]:
    """What PostgreSQL holds for the metrics and rollups: ciphertext bytes per metric, and the
    tables' whole size on disk (TOAST and indexes included)."""
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM metrics) AS n,"
        " (SELECT coalesce(sum(pg_column_size(ciphertext)), 0) FROM metrics) AS m,"
        " (SELECT coalesce(sum(pg_column_size(ciphertext)), 0) FROM metric_rollups) AS r,"
        " pg_total_relation_size('metrics') + pg_total_relation_size('metric_rollups') AS disk"
    )
    n = int(row["n"]) or 1
    return {
        "ciphertext_per_metric": int(row["m"]) / n,
        "stored_per_metric": (int(row["m"]) + int(row["r"])) / n,
        "disk_gb": int(row["disk"]) / 1e9,
    }


async def naive_sum(
    conn: asyncpg.Connection, aggregator: SealAggregator, parameters: CkksParameters, w: Window
) -> bytes:
    """The baseline: every ciphertext in range, read from the table and added one by one."""
    query = "SELECT ciphertext FROM metrics WHERE metric_type = 'word_count'"
    args: list[Any] = []
    if w.start is not None:
        query += " AND ts >= $1 AND ts <= $2"
        args = [w.start, w.end]
    rows = await conn.fetch(query, *args)
    total = await aggregator.add(parameters, [r["ciphertext"] for r in rows])
    (for_client,) = await aggregator.for_client([total])
    return for_client


async def main_async(
    sizes: list[int], database_url: str | None, batch_size: int = BATCH, naive: bool = True
) -> None:
    load = os.getloadavg()
    print(f"# Encrypted aggregation benchmark ({os.cpu_count()} cores, load {load[0]:.2f})\n")
    all_rows: list[Row] = []
    uploads: dict[int, dict] = {}
    with database_server(database_url or os.environ.get("DATABASE_URL")) as server_url:
        for n in sizes:
            name = f"bench_{secrets.token_hex(4)}"
            db_url = await create_database(server_url, name)
            try:
                lifted = {
                    "MAX_METRICS_PER_USER": str(max(n, 100_000)),
                    "METRIC_QUOTA_BYTES": str(max(4 * 2**30, n * 400_000)),
                    "RATE_LIMIT_METRICS_UPLOAD": "0/1",
                }
                with server(db_url, **lifted) as (base, pid):
                    rows, upload = await run_size(base, pid, db_url, n, batch_size, naive)
                all_rows += rows
                uploads[n] = upload
            finally:
                await drop_database(server_url, name)

    print("| metrics | range | in range | rollups (ms) | naive (ms) | speed-up | max error |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for r in all_rows:
        print(
            f"| {r.n:,} | {r.window} | {r.in_range:,} | {r.rollup_ms:,.1f} | "
            f"{r.naive_ms:,.1f} | {r.naive_ms / r.rollup_ms:,.1f}x | {r.error:.2g} |"
        )
    print(
        "\n| metrics | upload requests | body per request (MiB) | median (s) | max (s) "
        "| server RSS before (MiB) | server peak RSS (MiB) | ciphertext per metric (KB) "
        "| stored per metric (KB) | tables on disk (GB) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, u in uploads.items():
        print(
            f"| {n:,} | {u['requests']} | {u['body_mib']:.0f} | {u['median_s']:.2f} | "
            f"{u['max_s']:.2f} | {u['rss_before_mib']:.0f} | {u['peak_rss_mib']:.0f} "
            f"| {u['ciphertext_per_metric'] / 1000:.0f} | {u['stored_per_metric'] / 1000:.0f} "
            f"| {u['disk_gb']:.1f} |"
        )
    print(f"\nload after: {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--batch", type=int, default=BATCH, help="metrics per upload request")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive baseline")
    args = parser.parse_args()
    asyncio.run(main_async(args.sizes, args.database_url, args.batch, not args.no_naive))


if __name__ == "__main__":
    main()
