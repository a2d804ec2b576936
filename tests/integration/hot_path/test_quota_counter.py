"""The storage quota's byte counter (``users.stored_bytes``, kept in O(1) by every write)
equals what PostgreSQL really holds after every kind of write: new entries, edits, empty
versions, conflicts and their refreshes, every resolution, deletes, delete-all and a tier
downgrade; the kept versions (revision history) each of those keeps, prunes or removes; and
tags, created, renamed, deleted and cleaned up."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from reflective_domain.entries import ROW_OVERHEAD_BYTES
from tests.integration.api.conftest import Account, Client, b64, set_tier, sign_up
from tests.integration.api.sync_client import entry_upload

REAL_SUM = text(
    "SELECT u.stored_bytes,"
    " coalesce((SELECT sum(:overhead + coalesce(octet_length(e.content), 0)"
    "   + coalesce(octet_length(e.embedding), 0)) FROM entries e WHERE e.user_id = u.id), 0)"
    " + coalesce((SELECT sum(:overhead + octet_length(c.local_content)"
    "   + coalesce(octet_length(c.local_embedding), 0)) FROM conflicts c"
    "   WHERE c.user_id = u.id), 0)"
    " + coalesce((SELECT sum(:overhead + octet_length(h.content)) FROM entry_history h"
    "   WHERE h.user_id = u.id), 0)"
    " + coalesce((SELECT sum(:overhead + octet_length(t.name) + octet_length(t.name_key)"
    "   + octet_length(t.color)) FROM tags t WHERE t.user_id = u.id), 0)"
    " FROM users u WHERE u.id = :user"
)


async def counter_and_real(engine: AsyncEngine, account: Account) -> tuple[int, int]:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                REAL_SUM, {"overhead": ROW_OVERHEAD_BYTES, "user": uuid.UUID(account.id)}
            )
        ).one()
    return int(row[0]), int(row[1])


async def test_the_counter_is_the_real_sum_after_every_kind_of_write(
    client: Client, pg_engine: AsyncEngine, he_vectors: dict[str, Any]
) -> None:
    account = await sign_up(client)
    other = await sign_up(client, "grace@example.com", "another secret")
    for who in (account, other):
        await set_tier(client, who, "full_sync", he_vectors["public_key"])
    headers = account.headers
    steps: list[str] = []

    async def check(step: str) -> None:
        steps.append(step)
        counter, real = await counter_and_real(pg_engine, account)
        assert counter == real, (steps, counter, real)

    async def push(body: dict[str, Any], expected: int) -> dict[str, Any]:
        response = await client.post("/api/sync/backup", json=body, headers=headers)
        assert response.status_code == expected, response.text
        result: dict[str, Any] = response.json()
        return result

    await check("nothing yet")
    e1, e2, e3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await push(entry_upload(e1, device="laptop", content=b"a" * 300), 201)
    await check("new entry")
    await push(entry_upload(e2, device="laptop", content=b""), 201)
    await check("empty entry")
    await push(
        entry_upload(
            e3, device="laptop", encrypted_embedding=b64(b"m" * 64), embedding_iv=b64(b"i" * 12)
        ),
        201,
    )
    await check("entry with an embedding")
    await push(entry_upload(e1, device="laptop", content=b"b" * 1000), 201)
    await check("edit, larger")
    retry = entry_upload(e1, device="laptop", content=b"c" * 10)
    await push(retry, 201)
    await push(retry, 201)
    await check("edit, smaller, and its retry")
    conflict = (await push(entry_upload(e1, device="phone", content=b"p" * 500), 409))["detail"]
    await check("conflict")
    await push(entry_upload(e1, device="phone", content=b"q" * 50), 409)
    await check("conflict refreshed by its device")
    await push(entry_upload(e1, device="tablet", content=b"t" * 50), 409)
    await check("blocked by the open conflict")
    merge = {
        "chosen_version": "merged",
        "final_encrypted_content": b64(b"m" * 700),
        "final_iv": b64(b"v" * 12),
    }
    resolve_url = f"/api/sync/conflicts/{conflict['conflict_id']}/resolve"
    stale = await client.post(resolve_url, json=merge, headers=headers)
    assert stale.status_code == 409, stale.text  # refreshed since listed: not applied
    await check("stale resolution refused")
    listing = await client.get("/api/sync/conflicts", headers=headers)
    assert listing.status_code == 200
    await check("conflicts listed (and so confirmed)")
    resolved = await client.post(resolve_url, json=merge, headers=headers)
    assert resolved.status_code == 200, resolved.text
    await check("resolved merged")
    second = (await push(entry_upload(e2, device="phone", content=b"x" * 80), 409))["detail"]
    resolved = await client.post(
        f"/api/sync/conflicts/{second['conflict_id']}/resolve",
        json={"chosen_version": "local"},
        headers=headers,
    )
    assert resolved.status_code == 200, resolved.text
    await check("resolved local")
    third = (await push(entry_upload(e3, device="phone", content=b"y" * 80), 409))["detail"]
    resolved = await client.post(
        f"/api/sync/conflicts/{third['conflict_id']}/resolve",
        json={"chosen_version": "remote"},
        headers=headers,
    )
    assert resolved.status_code == 200, resolved.text
    await check("resolved remote")
    await push(entry_upload(e3, device="laptop", content=b"z" * 20), 201)
    await check("an edit after the resolution")
    deleted = await client.delete(f"/api/sync/backup/{e2}", headers=headers)
    assert deleted.status_code == 200, deleted.text
    await check("deleted (tombstone)")
    await push(entry_upload(e2, device="laptop", content=b"r" * 33), 201)
    await check("a write brings the tombstone back")
    history = await client.get(f"/api/sync/entries/{e1}/revisions", headers=headers)
    assert len(history.json()["revisions"]) >= 3, history.text  # e1 has kept versions
    cleared = await client.delete(f"/api/sync/entries/{e1}/revisions", headers=headers)
    assert cleared.status_code == 204, cleared.text
    await check("an entry's history deleted")
    # Another user's writes never touch this counter.
    other_push = await client.post(
        "/api/sync/backup", json=entry_upload(content=b"o" * 999), headers=other.headers
    )
    assert other_push.status_code == 201
    await check("another user wrote")
    wiped = await client.delete("/api/sync/backup/content", headers=headers)
    assert wiped.status_code == 200, wiped.text
    await check("delete all")
    assert await counter_and_real(pg_engine, account) == (0, 0)
    e4 = uuid.uuid4()
    await push(entry_upload(e4, device="laptop", content=b"n" * 10), 201)
    await check("new entry after delete all")
    await push(entry_upload(e4, device="laptop", content=b"k" * 70), 201)
    await check("an edit keeps the version it replaces")
    await set_tier(client, account, "analytics_sync")
    await check("downgrade (its kept versions go with the entries)")
    assert await counter_and_real(pg_engine, account) == (0, 0)


async def test_a_conflict_that_does_not_fit_the_quota_is_refused(
    app_with: Any, he_vectors: dict[str, Any]
) -> None:
    async with app_with(user_storage_quota_bytes=3 * ROW_OVERHEAD_BYTES + 500) as client:
        account = await sign_up(client)
        await set_tier(client, account, "full_sync", he_vectors["public_key"])
        entry_id = uuid.uuid4()
        body = entry_upload(entry_id, device="laptop", content=b"a" * 400)
        first = await client.post("/api/sync/backup", json=body, headers=account.headers)
        assert first.status_code == 201, first.text
        big = entry_upload(entry_id, device="phone", content=b"b" * 400)
        refused = await client.post("/api/sync/backup", json=big, headers=account.headers)
        assert refused.status_code == 413, refused.text
        assert "quota" in refused.json()["detail"]
        listing = await client.get("/api/sync/conflicts", headers=account.headers)
        assert listing.json()["total_count"] == 0  # nothing was stored
        small = entry_upload(entry_id, device="phone", content=b"c" * 50)
        kept = await client.post("/api/sync/backup", json=small, headers=account.headers)
        assert kept.status_code == 409, kept.text


async def test_the_counter_counts_tags_through_every_tag_route(
    client: Client, pg_engine: AsyncEngine, he_vectors: dict[str, Any]
) -> None:
    account = await sign_up(client)
    await set_tier(client, account, "full_sync", he_vectors["public_key"])
    headers = account.headers
    steps: list[str] = []

    async def check(step: str) -> int:
        steps.append(step)
        counter, real = await counter_and_real(pg_engine, account)
        assert counter == real, (steps, counter, real)
        return counter

    async def create(name: str) -> dict[str, Any]:
        response = await client.post("/api/tags", json={"name": name}, headers=headers)
        assert response.status_code in (200, 201), response.text
        tag: dict[str, Any] = response.json()
        return tag

    pushed = await client.post("/api/sync/backup", json=entry_upload(), headers=headers)
    assert pushed.status_code == 201
    before = await check("an entry")
    work = await create("Straße")
    # Name "Straße" (7 UTF-8 bytes), its key "strasse" (7), the colour (7), one row.
    assert await check("created") == before + ROW_OVERHEAD_BYTES + 7 + 7 + 7
    await create(" STRASSE ")
    await check("the same tag again")
    for change in ({"name": "Straße und Weg"}, {"name": "w", "color": "#000000"}, {"used": True}):
        response = await client.patch(f"/api/tags/{work['id']}", json=change, headers=headers)
        assert response.status_code == 200, response.text
        await check(f"patched {change}")
    gone = await create("gone")
    await create("stale")
    await check("two more")
    deleted = await client.delete(f"/api/tags/{gone['id']}", headers=headers)
    assert deleted.status_code == 204
    await check("deleted")
    async with pg_engine.begin() as connection:  # "stale" unused for a year
        await connection.execute(
            text("UPDATE tags SET last_used_at = now() - interval '1 year' WHERE name = 'stale'")
        )
    cleaned = await client.delete("/api/tags/cleanup?days=30", headers=headers)
    assert cleaned.json()["deleted_count"] == 1
    await check("cleaned up")
    wiped = await client.delete("/api/sync/backup/content", headers=headers)
    assert wiped.status_code == 200, wiped.text
    await check("delete all entries: the tags stay counted")
    await set_tier(client, account, "local_only")
    assert await check("downgrade: the tags stay counted") == ROW_OVERHEAD_BYTES + 1 + 1 + 7


async def test_a_tag_that_does_not_fit_the_quota_is_refused(app_with: Any) -> None:
    one = ROW_OVERHEAD_BYTES + 3 + 3 + 7
    async with app_with(user_storage_quota_bytes=one + 10) as client:
        account = await sign_up(client)
        headers = account.headers
        created = await client.post("/api/tags", json={"name": "one"}, headers=headers)
        assert created.status_code == 201, created.text
        refused = await client.post("/api/tags", json={"name": "two"}, headers=headers)
        assert refused.status_code == 413, refused.text
        assert refused.json()["code"] == "quota_exceeded"
        assert "quota" in refused.json()["detail"]
        longer = await client.patch(
            f"/api/tags/{created.json()['id']}", json={"name": "one, longer"}, headers=headers
        )
        assert longer.status_code == 413, longer.text
        listing = await client.get("/api/tags", headers=headers)
        assert [t["name"] for t in listing.json()] == ["one"]  # nothing more was stored
        again = await client.post("/api/tags", json={"name": "ONE"}, headers=headers)
        assert again.status_code == 200, again.text  # the existing tag: nothing to add
