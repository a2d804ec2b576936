"""The server's memory while it answers one export.

    python -m benchmarks.export_memory --metrics 570

Starts ``reflective serve --workers 1`` on a fresh database (see ``tests.load.server``), stores
``--metrics`` encrypted metrics for one analytics_sync user (the node-seal vectors'
ciphertexts, ~0.33 MB each), then downloads ``GET /api/users/me/export`` while sampling the
server's resident memory every 10 ms. Prints the export's size, the time it took, and the
server's RSS before and at its peak during the export.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
from tests.load.server import DEFAULT_PG_URL, cleanup, serving

from benchmarks.hostile_soak import VECTORS, server_rss_mib

BATCH = 100


async def measure(args: argparse.Namespace, vectors: dict[str, Any]) -> dict[str, float]:
    ciphertexts = [m["encrypted_value"] for m in vectors["metrics"]]
    async with serving(1, pg_url=args.pg_url) as env:
        group = env.server._process.pid  # type: ignore[union-attr]
        async with httpx.AsyncClient(base_url=env.base_url, timeout=300.0) as http:
            email, password = "export@example.com", "export bench password"
            await http.post("/api/auth/register", json={"email": email, "password": password})
            login = await http.post(
                "/api/auth/token", data={"username": email, "password": password}
            )
            http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
            tier = await http.put(
                "/api/users/me/privacy",
                json={
                    "privacy_tier": "analytics_sync",
                    "consent_timestamp": "2026-11-01T10:00:00Z",
                    "he_public_key": vectors["public_key"],
                },
            )
            tier.raise_for_status()
            start = datetime(2026, 1, 1, tzinfo=timezone.utc)
            for first in range(0, args.metrics, BATCH):
                batch = [
                    {
                        "metric_type": "word_count",
                        "timestamp": (start + timedelta(minutes=i)).isoformat(),
                        "encrypted_value": ciphertexts[i % len(ciphertexts)],
                    }
                    for i in range(first, min(first + BATCH, args.metrics))
                ]
                stored = await http.post("/api/encryption/metrics", json={"metrics": batch})
                assert stored.status_code == 201, stored.text
            await asyncio.sleep(2)  # let the upload's memory settle
            before = server_rss_mib(group)
            peak = before
            done = asyncio.Event()

            async def sample() -> None:
                nonlocal peak
                while not done.is_set():
                    peak = max(peak, server_rss_mib(group))
                    await asyncio.sleep(0.01)

            sampler = asyncio.create_task(sample())
            started = time.perf_counter()
            size = 0
            async with http.stream("GET", "/api/users/me/export") as response:
                assert response.status_code == 200
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
            seconds = time.perf_counter() - started
            done.set()
            await sampler
    return {
        "metrics": args.metrics,
        "export_mib": size / 2**20,
        "seconds": seconds,
        "rss_before_mib": before,
        "rss_peak_mib": peak,
    }


async def main(args: argparse.Namespace, vectors: dict[str, Any]) -> None:
    try:
        result = await measure(args, vectors)
    finally:
        cleanup()
    print("| metrics | export (MiB) | time (s) | server RSS before (MiB) | peak during (MiB) |")
    print("|---|---|---|---|---|")
    print(
        f"| {result['metrics']} | {result['export_mib']:.0f} | {result['seconds']:.1f} | "
        f"{result['rss_before_mib']:.0f} | {result['rss_peak_mib']:.0f} |"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--metrics", type=int, default=570)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    asyncio.run(main(parser.parse_args(), json.loads(Path(VECTORS).read_text())))
