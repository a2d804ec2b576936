"""SQL statements per request on a device's sync loop, BEGIN/COMMIT included, pinned: a
regression that adds a round trip to the hot path fails here."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.api.conftest import Account, Client, set_tier, sign_up
from tests.integration.api.sync_client import entry_upload
from tests.integration.hot_path.statements import StatementLog, counting_statements

LIMITS = {
    "new push": 5,
    # The edit keeps the version it replaces and prunes the entry's history in the statement
    # that writes the entry (data-modifying CTEs); the history retention needs is read with the
    # upload's context.
    "edit push": 7,
    # One lock, one read of every item's context, one range of change sequences, one
    # executemany for the entries and one for their fingerprints, whatever the batch size.
    "batch of 100 new pushes": 7,
    "GET /sync/backups?limit=100": 4,
    "GET /sync/changes?limit=100": 4,
    "GET /sync/conflicts": 5,
    "GET /users/me": 4,
    "GET /tags": 4,
}


async def measure(
    log: StatementLog, call: Callable[[], Awaitable[httpx.Response]], expected: int = 200
) -> int:
    log.clear()
    response = await call()
    assert response.status_code == expected, response.text
    return log.count


@pytest.fixture
async def synced(client: Client, he_vectors: dict[str, Any]) -> Account:
    account = await sign_up(client)
    await set_tier(client, account, "full_sync", he_vectors["public_key"])
    # A warm pool and a warm statement cache, as in steady state, and entries to list.
    for n in range(120):
        body = entry_upload(device="phone")
        response = await client.post("/api/sync/backup", json=body, headers=account.headers)
        assert response.status_code == 201
        if n < 3:  # open conflicts to list: listing confirms the page in one statement
            body = entry_upload(body["id"], device="tablet")
            response = await client.post("/api/sync/backup", json=body, headers=account.headers)
            assert response.status_code == 409
    return account


async def test_statements_per_request(
    client: Client, synced: Account, pg_engine: AsyncEngine
) -> None:
    headers = synced.headers
    entry_id = uuid.uuid4()

    async def push(body: dict[str, Any]) -> httpx.Response:
        return await client.post("/api/sync/backup", json=body, headers=headers)

    assert (await push(entry_upload(entry_id))).status_code == 201  # the entry to edit
    counts: dict[str, int] = {}
    logs: dict[str, str] = {}
    with counting_statements(pg_engine) as log:
        calls: dict[str, tuple[Callable[[], Awaitable[httpx.Response]], int]] = {
            "new push": (lambda: push(entry_upload()), 201),
            "edit push": (lambda: push(entry_upload(entry_id)), 201),
            "batch of 100 new pushes": (
                lambda: client.post(
                    "/api/sync/batch",
                    json={"entries": [entry_upload() for _ in range(100)]},
                    headers=headers,
                ),
                200,
            ),
            "GET /sync/backups?limit=100": (
                lambda: client.get("/api/sync/backups?limit=100&device_id=laptop", headers=headers),
                200,
            ),
            "GET /sync/changes?limit=100": (
                lambda: client.get("/api/sync/changes?limit=100&device_id=laptop", headers=headers),
                200,
            ),
            "GET /sync/conflicts": (
                lambda: client.get("/api/sync/conflicts", headers=headers),
                200,
            ),
            "GET /users/me": (lambda: client.get("/api/users/me", headers=headers), 200),
            "GET /tags": (lambda: client.get("/api/tags", headers=headers), 200),
        }
        for _ in range(2):  # the second round runs with every statement cached
            for name, (call, status) in calls.items():
                counts[name] = await measure(log, call, status)
                logs[name] = log.describe()
    # The edits did keep versions (so their count includes the history write).
    kept = await client.get(f"/api/sync/entries/{entry_id}/revisions", headers=headers)
    assert len(kept.json()["revisions"]) >= 2, kept.text
    report = "\n".join(f"{name}: {counts[name]}\n{logs[name]}" for name in counts)
    print(report)
    over = {name: n for name, n in counts.items() if n > LIMITS[name]}
    assert not over, report
