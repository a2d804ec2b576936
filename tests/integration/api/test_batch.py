"""POST /api/sync/batch: many entry versions in one request and one transaction, each
decided by the single-push conflict rules; atomic mode; limits; bad items; isolation."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.api.conftest import Account, Client, b64, set_tier
from tests.integration.api.sync_client import entry_upload


@pytest.fixture
async def synced_user(client: Client, user: Account, he_vectors: dict[str, Any]) -> Account:
    await set_tier(client, user, "full_sync", he_vectors["public_key"])
    return user


@pytest.fixture
async def synced_other(client: Client, other_user: Account, he_vectors: dict[str, Any]) -> Account:
    await set_tier(client, other_user, "full_sync", he_vectors["public_key"])
    return other_user


async def batch(client: Client, account: Account, items: list[dict[str, Any]], **extra: Any) -> Any:
    body = {"entries": items, **extra}
    return await client.post("/api/sync/batch", json=body, headers=account.headers)


async def push(client: Client, account: Account, body: dict[str, Any]) -> Any:
    return await client.post("/api/sync/backup", json=body, headers=account.headers)


async def state(engine: AsyncEngine, account: Account) -> tuple[int, int, int]:
    """The user's change sequence, entry count and open-conflict count."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT u.change_seq,"
                    " (SELECT count(*) FROM entries e WHERE e.user_id = u.id),"
                    " (SELECT count(*) FROM conflicts c WHERE c.user_id = u.id"
                    "  AND c.resolved_at IS NULL)"
                    " FROM users u WHERE u.id = :id"
                ),
                {"id": account.id},
            )
        ).one()
    return int(row[0]), int(row[1]), int(row[2])


async def test_mixed_outcomes_in_request_order(
    client: Client, synced_user: Account, pg_engine: AsyncEngine
) -> None:
    edited, retried, conflicting, blocked = (uuid.uuid4() for _ in range(4))
    first = entry_upload(edited, device="laptop")
    assert (await push(client, synced_user, first)).status_code == 201
    again = entry_upload(retried, device="laptop")
    assert (await push(client, synced_user, again)).status_code == 201
    assert (
        await push(client, synced_user, entry_upload(conflicting, device="tablet"))
    ).status_code == 201
    assert (
        await push(client, synced_user, entry_upload(blocked, device="tablet"))
    ).status_code == 201
    open_conflict = await push(client, synced_user, entry_upload(blocked, device="watch"))
    assert open_conflict.status_code == 409
    seq_before, _, _ = await state(pg_engine, synced_user)
    new = uuid.uuid4()
    items = [
        entry_upload(new, device="laptop"),  # created
        entry_upload(edited, device="laptop", base_revision=1),  # accepted
        again,  # unchanged: the same ciphertext and IV as revision 1
        entry_upload(conflicting, device="laptop"),  # conflict: the laptop never saw it
        entry_upload(blocked, device="laptop"),  # blocked by the watch's open conflict
    ]
    response = await batch(client, synced_user, items)
    assert response.status_code == 200, response.text
    body = response.json()
    results = body["results"]
    assert [r["id"] for r in results] == [
        str(i) for i in (new, edited, retried, conflicting, blocked)
    ]
    assert [r["outcome"] for r in results] == [
        "created",
        "accepted",
        "unchanged",
        "conflict",
        "conflict",
    ]
    assert [r.get("revision") for r in results] == [1, 2, 1, None, None]
    assert "conflict_id" not in results[0] and results[3]["conflict_id"]
    assert results[4]["conflict_id"] == open_conflict.json()["detail"]["conflict_id"]
    assert body["stored"] == 3 and body["conflicts"] == 2
    # One range of change sequences for the two writes, and the conflict kept to resolve.
    seq_after, entries, conflicts = await state(pg_engine, synced_user)
    assert seq_after == seq_before + 2 and entries == 5 and conflicts == 2
    changes = (
        await client.get(f"/api/sync/changes?cursor={seq_before}", headers=synced_user.headers)
    ).json()["changes"]
    assert [c["id"] for c in changes] == [str(new), str(edited)]
    listed = (await client.get("/api/sync/conflicts", headers=synced_user.headers)).json()
    assert {c["id"] for c in listed["conflicts"]} >= {results[3]["conflict_id"]}


async def test_the_batch_is_sent_again_harmlessly(client: Client, synced_user: Account) -> None:
    items = [entry_upload(device="phone") for _ in range(3)]
    assert [r["outcome"] for r in (await batch(client, synced_user, items)).json()["results"]] == [
        "created"
    ] * 3
    retry = (await batch(client, synced_user, items)).json()["results"]
    assert [(r["outcome"], r["revision"]) for r in retry] == [("unchanged", 1)] * 3


async def test_atomic_batch_with_a_conflict_stores_nothing(
    client: Client, synced_user: Account, pg_engine: AsyncEngine
) -> None:
    theirs = uuid.uuid4()
    assert (
        await push(client, synced_user, entry_upload(theirs, device="tablet"))
    ).status_code == 201
    before = await state(pg_engine, synced_user)
    items = [entry_upload(device="laptop"), entry_upload(theirs, device="laptop")]
    response = await batch(client, synced_user, items, atomic=True)
    assert response.status_code == 409
    body = response.json()
    assert isinstance(body["detail"], str) and body["code"] == "batch_conflict"
    assert body["ids"] == [str(theirs)]
    assert await state(pg_engine, synced_user) == before
    # Without the conflicting item the same batch goes through, as one transaction.
    ok = await batch(client, synced_user, items[:1], atomic=True)
    assert ok.status_code == 200 and ok.json()["results"][0]["outcome"] == "created"


async def test_limits(client: Client, synced_user: Account, pg_engine: AsyncEngine) -> None:
    from reflective_app.controllers.sync import BATCH_BODY_LIMIT

    small = [entry_upload(device="phone", content=b"x") for _ in range(501)]
    too_many = await batch(client, synced_user, small)
    assert too_many.status_code == 413 and "500" in too_many.json()["detail"]
    big = b"b" * (BATCH_BODY_LIMIT // 3)  # three of them are over the cap as base64
    too_big = await batch(client, synced_user, [entry_upload(content=big) for _ in range(3)])
    assert too_big.status_code == 413
    oversized = [entry_upload(), entry_upload(content=b"o" * (1024 * 1024 + 1))]
    one_too_large = await batch(client, synced_user, oversized)
    assert one_too_large.status_code == 413 and "entries[1]" in one_too_large.json()["detail"]
    assert (await batch(client, synced_user, small[:500])).status_code == 200
    assert (await state(pg_engine, synced_user))[1] == 500
    empty = await batch(client, synced_user, [])
    assert empty.status_code == 200 and empty.json()["results"] == []


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"content_iv": b64(b"short")}, "content_iv"),
        ({"device_id": ""}, "device_id"),
        ({"base_revision": 0}, "base_revision"),
        ({"base_revision": 9}, "base_revision"),  # ahead of the server's revision
        ({"updated_at": "not a date"}, "updated_at"),
        ({"id": "same"}, "id"),
    ],
)
async def test_a_bad_item_names_its_index_and_nothing_is_stored(
    client: Client, synced_user: Account, pg_engine: AsyncEngine, bad: dict[str, Any], field: str
) -> None:
    known = uuid.uuid4()
    assert (await push(client, synced_user, entry_upload(known, device="phone"))).status_code == 201
    before = await state(pg_engine, synced_user)
    items = [entry_upload(device="phone"), entry_upload(device="phone"), entry_upload()]
    if field == "id":
        items[2]["id"] = items[0]["id"]  # the same entry twice
    else:
        # base_revision is checked against the known entry; the rest on their own.
        target = {"id": str(known)} if field == "base_revision" else {}
        items[2] |= {**bad, **target}
    response = await batch(client, synced_user, items)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"][:3] == ["body", "entries", 2], error
    assert field in error["loc"], error
    assert await state(pg_engine, synced_user) == before


async def test_another_users_entry_ids_are_other_entries(
    client: Client, synced_user: Account, synced_other: Account
) -> None:
    shared = uuid.uuid4()
    assert (
        await push(client, synced_user, entry_upload(shared, device="laptop"))
    ).status_code == 201
    theirs = await batch(client, synced_other, [entry_upload(shared, device="tablet")])
    assert theirs.json()["results"] == [{"id": str(shared), "outcome": "created", "revision": 1}]
    mine = (await client.get("/api/sync/backups", headers=synced_user.headers)).json()["backups"]
    assert [(b["id"], b["device_id"], b["revision"]) for b in mine] == [(str(shared), "laptop", 1)]
    assert (await client.get("/api/sync/conflicts", headers=synced_user.headers)).json()[
        "total_count"
    ] == 0


async def test_below_full_sync_is_refused(client: Client, user: Account) -> None:
    assert (await batch(client, user, [entry_upload()])).status_code == 403
