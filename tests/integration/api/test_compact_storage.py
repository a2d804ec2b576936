"""Ciphertexts are stored in the compact encoding, metric rows and rollups alike; rows stored
before it (SEAL's own bytes) still aggregate, and still take part in replacements. What the
server answers is SEAL's serialization, which the web client's keys decrypt."""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from reflective_adapters.he import storage
from reflective_adapters.he.header import CompressionMode, read_header
from tests.integration.api.conftest import Account, Client, set_tier
from tests.integration.api.he_client import decrypt, metric_payload

Vectors = dict[str, Any]
TABLES = ("metrics", "metric_rollups")


async def stored(engine: AsyncEngine) -> dict[str, list[bytes]]:
    async with engine.connect() as conn:
        return {
            table: [
                bytes(row[0]) for row in await conn.execute(text(f"SELECT ciphertext FROM {table}"))
            ]
            for table in TABLES
        }


async def make_legacy(engine: AsyncEngine) -> None:
    """Every stored ciphertext back to SEAL's own zstd bytes, as servers stored them before
    the compact encoding."""
    async with engine.begin() as conn:
        for table in TABLES:
            rows = (await conn.execute(text(f"SELECT ctid, ciphertext FROM {table}"))).all()
            for ctid, ciphertext in rows:
                await conn.execute(
                    text(f"UPDATE {table} SET ciphertext = :c WHERE ctid = :t"),
                    {"c": storage.for_client(bytes(ciphertext)), "t": ctid},
                )


async def word_count_sum(client: Client, account: Account) -> dict[str, Any]:
    answer = await client.post(
        "/api/encryption/aggregate",
        json={"metric_type": "word_count", "operation": "sum"},
        headers=account.headers,
    )
    assert answer.status_code == 200, answer.text
    result = base64.b64decode(answer.json()["encrypted_result"])
    # SEAL's own serialization goes out, never the storage encoding.
    assert read_header(result, max_size=len(result)).compression is CompressionMode.ZSTD
    body: dict[str, Any] = answer.json()
    return body


async def test_rows_and_rollups_are_stored_compact_and_legacy_rows_still_aggregate(
    client: Client, user: Account, pg_engine: AsyncEngine, he_lean_vectors: Vectors
) -> None:
    vectors = he_lean_vectors
    await set_tier(client, user, "analytics_sync", vectors["public_key"])
    metrics = vectors["metrics"]
    body = {"metrics": [metric_payload(m, log_id=f"e{i}") for i, m in enumerate(metrics)]}
    answer = await client.post("/api/encryption/metrics", json=body, headers=user.headers)
    assert answer.status_code == 201, answer.text

    held = await stored(pg_engine)
    assert held["metrics"] and held["metric_rollups"]
    for table in TABLES:
        assert all(storage.is_compact(c) for c in held[table]), table
    # Lean: 2 polynomials x 8192 coefficients x (60 + 40) bits, plus an 80-byte head.
    assert {len(c) for c in held["metrics"]} == {204_880}
    sent = len(base64.b64decode(metrics[0]["encrypted_value"]))
    assert 0.9 * sent > 204_880

    expected = vectors["expected"]["word_count"]
    before = await word_count_sum(client, user)
    assert before["count"] == expected["count"]
    assert abs(decrypt(vectors, before["encrypted_result"]) - expected["sum"]) < 1e-3

    await make_legacy(pg_engine)
    assert not any(storage.is_compact(c) for cs in (await stored(pg_engine)).values() for c in cs)
    legacy = await word_count_sum(client, user)
    assert legacy["count"] == expected["count"]
    assert abs(decrypt(vectors, legacy["encrypted_result"]) - expected["sum"]) < 1e-3

    # A replacement subtracts a legacy metric from a legacy rollup and adds a new one.
    words = [(i, m) for i, m in enumerate(metrics) if m["metric_type"] == "word_count"]
    (first, old), (_, new) = words[0], words[-1]
    replace = {
        "metrics": [metric_payload({**new, "timestamp": old["timestamp"]}, log_id=f"e{first}")]
    }
    answer = await client.post("/api/encryption/metrics", json=replace, headers=user.headers)
    assert answer.status_code == 201, answer.text
    assert answer.json()["details"]["replaced"] == 1
    after = await word_count_sum(client, user)
    assert after["count"] == expected["count"]
    want = expected["sum"] - old["value"] + new["value"]
    assert abs(decrypt(vectors, after["encrypted_result"]) - want) < 1e-3
    # What the replacement rewrote is compact again; the untouched legacy rows stay as they were.
    held = await stored(pg_engine)
    assert any(storage.is_compact(c) for c in held["metrics"])
    assert any(storage.is_compact(c) for c in held["metric_rollups"])
    assert any(not storage.is_compact(c) for c in held["metrics"])


async def test_the_export_hands_out_seal_bytes(
    client: Client, user: Account, he_lean_vectors: Vectors
) -> None:
    vectors = he_lean_vectors
    await set_tier(client, user, "analytics_sync", vectors["public_key"])
    metric = vectors["metrics"][0]
    answer = await client.post(
        "/api/encryption/metrics", json={"metrics": [metric_payload(metric)]}, headers=user.headers
    )
    assert answer.status_code == 201, answer.text
    document = (await client.get("/api/users/me/export", headers=user.headers)).json()
    (exported,) = document["metrics"]
    value = decrypt(vectors, exported["encrypted_value"])
    assert abs(value - metric["value"]) < 1e-3
