"""Revision history over HTTP: listing newest first by cursor, deleting it, isolation between
users, the quota, the export, and every removal (delete-all, downgrade, account deletion)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from reflective_domain.entries import ROW_OVERHEAD_BYTES
from tests.integration.api.conftest import Account, Client, b64, set_tier, sign_up
from tests.integration.api.sync_client import entry_upload


async def synced(client: Client, he_vectors: dict[str, Any], email: str = "ada@example.com"):
    account = await sign_up(client, email)
    await set_tier(client, account, "full_sync", he_vectors["public_key"])
    return account


async def push(client: Client, account: Account, body: dict[str, Any], expected: int = 201):
    response = await client.post("/api/sync/backup", json=body, headers=account.headers)
    assert response.status_code == expected, response.text
    return response.json()


async def kept_rows(engine: AsyncEngine, account: Account) -> int:
    async with engine.connect() as connection:
        found = await connection.execute(
            text("SELECT count(*) FROM entry_history WHERE user_id = :user"),
            {"user": uuid.UUID(account.id)},
        )
        return int(found.scalar_one())


async def edited(client: Client, account: Account, times: int) -> tuple[str, list[dict[str, Any]]]:
    entry_id = str(uuid.uuid4())
    bodies = []
    for n in range(times):
        base = {"base_revision": n} if n else {}
        body = entry_upload(entry_id, device=f"device-{n}", content=f"v{n}".encode(), **base)
        await push(client, account, body)
        bodies.append(body)
    return entry_id, bodies


async def test_history_lists_replaced_versions_newest_first_by_cursor(
    client: Client, he_vectors: dict[str, Any]
) -> None:
    ada = await synced(client, he_vectors)
    entry_id, bodies = await edited(client, ada, 4)
    url = f"/api/sync/entries/{entry_id}/revisions"
    whole = await client.get(url, headers=ada.headers)
    assert whole.status_code == 200, whole.text
    listed = whole.json()
    assert listed["has_more"] is False and listed["next_cursor"] is None
    assert [r["revision"] for r in listed["revisions"]] == [3, 2, 1]
    newest = listed["revisions"][0]
    assert newest["encrypted_content"] == bodies[2]["encrypted_content"]
    assert newest["content_iv"] == bodies[2]["content_iv"]
    assert newest["content_tag"] == bodies[2]["content_tag"]
    assert newest["device_id"] == "device-2"
    assert newest["log_id"] == entry_id and newest["replaced_at"].endswith("Z")
    seen = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(url, params=params, headers=ada.headers)).json()
        seen += [r["revision"] for r in page["revisions"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert seen == [3, 2, 1]
    bad = await client.get(url, params={"cursor": "x"}, headers=ada.headers)
    assert bad.status_code == 422 and "cursor" in bad.text


async def test_another_users_entry_is_404_and_deleting_history_frees_it(
    client: Client, he_vectors: dict[str, Any], pg_engine: AsyncEngine
) -> None:
    ada = await synced(client, he_vectors)
    eve = await synced(client, he_vectors, "eve@example.com")
    entry_id, _ = await edited(client, ada, 3)
    url = f"/api/sync/entries/{entry_id}/revisions"
    assert (await client.get(url, headers=eve.headers)).status_code == 404
    assert (await client.delete(url, headers=eve.headers)).status_code == 404
    assert (
        await client.get(f"/api/sync/entries/{uuid.uuid4()}/revisions", headers=ada.headers)
    ).status_code == 404
    assert await kept_rows(pg_engine, ada) == 2
    deleted = await client.delete(url, headers=ada.headers)
    assert deleted.status_code == 204, deleted.text
    assert (await client.get(url, headers=ada.headers)).json()["revisions"] == []
    assert await kept_rows(pg_engine, ada) == 0
    # The entry itself is untouched.
    backups = (await client.get("/api/sync/backups", headers=ada.headers)).json()
    assert [b["revision"] for b in backups["backups"]] == [3]


async def test_kept_versions_count_toward_the_quota(
    app_with: Any, he_vectors: dict[str, Any]
) -> None:
    # Room for one entry row and one kept version of 400 bytes each, and not a third.
    room = 2 * ROW_OVERHEAD_BYTES + 800
    async with app_with(user_storage_quota_bytes=room) as client:
        ada = await synced(client, he_vectors)
        entry_id = str(uuid.uuid4())
        await push(client, ada, entry_upload(entry_id, content=b"a" * 400))
        await push(client, ada, entry_upload(entry_id, content=b"b" * 400))
        refused = await push(client, ada, entry_upload(entry_id, content=b"c" * 400), 413)
        assert "quota" in refused["detail"]
        url = f"/api/sync/entries/{entry_id}/revisions"
        assert (await client.delete(url, headers=ada.headers)).status_code == 204
        await push(client, ada, entry_upload(entry_id, content=b"c" * 400))
    # With one kept version per entry, retention prunes before the quota check: it fits.
    async with app_with(user_storage_quota_bytes=room, revision_history_max=1) as client:
        ada = await synced(client, he_vectors, "grace@example.com")
        entry_id = str(uuid.uuid4())
        for fill in (b"a", b"b", b"c"):
            await push(client, ada, entry_upload(entry_id, content=fill * 400))
        listed = await client.get(f"/api/sync/entries/{entry_id}/revisions", headers=ada.headers)
        assert [r["revision"] for r in listed.json()["revisions"]] == [2]


async def test_the_export_includes_history(client: Client, he_vectors: dict[str, Any]) -> None:
    ada = await synced(client, he_vectors)
    entry_id, bodies = await edited(client, ada, 2)
    exported = await client.get("/api/users/me/export", headers=ada.headers)
    assert exported.status_code == 200, exported.text
    revisions = exported.json()["revisions"]
    assert [(r["log_id"], r["revision"]) for r in revisions] == [(entry_id, 1)]
    assert revisions[0]["encrypted_content"] == bodies[0]["encrypted_content"]


async def test_delete_all_the_downgrade_and_account_deletion_remove_history(
    client: Client, he_vectors: dict[str, Any], pg_engine: AsyncEngine
) -> None:
    ada = await synced(client, he_vectors)
    await edited(client, ada, 2)
    assert await kept_rows(pg_engine, ada) == 1
    wiped = await client.delete("/api/sync/backup/content", headers=ada.headers)
    assert wiped.status_code == 200, wiped.text
    assert await kept_rows(pg_engine, ada) == 0

    await edited(client, ada, 2)
    await set_tier(client, ada, "analytics_sync")
    assert await kept_rows(pg_engine, ada) == 0
    await set_tier(client, ada, "full_sync", he_vectors["public_key"])
    entry_id, _ = await edited(client, ada, 2)
    listed = await client.get(f"/api/sync/entries/{entry_id}/revisions", headers=ada.headers)
    assert len(listed.json()["revisions"]) == 1
    assert await kept_rows(pg_engine, ada) == 1
    gone = await client.request(
        "DELETE", "/api/users/me", json={"password": ada.password}, headers=ada.headers
    )
    assert gone.status_code == 204, gone.text
    assert await kept_rows(pg_engine, ada) == 0


async def test_history_needs_full_sync(client: Client) -> None:
    ada = await sign_up(client)
    listed = await client.get(f"/api/sync/entries/{uuid.uuid4()}/revisions", headers=ada.headers)
    assert listed.status_code == 403, listed.text


async def test_a_restore_is_an_upload_of_the_old_version_with_base_revision(
    client: Client, he_vectors: dict[str, Any]
) -> None:
    ada = await synced(client, he_vectors)
    entry_id, _ = await edited(client, ada, 3)
    listed = (
        await client.get(f"/api/sync/entries/{entry_id}/revisions", headers=ada.headers)
    ).json()
    oldest = listed["revisions"][-1]
    # The client decrypts it and encrypts it again (a fresh IV): an ordinary upload.
    restore = entry_upload(entry_id, device="phone", content=b"v0", base_revision=3)
    stored = await push(client, ada, restore)
    assert stored["revision"] == 4
    assert oldest["revision"] == 1 and oldest["encrypted_content"] == b64(b"v0")
    # Decided against revision 3: a restore from an older listing is a conflict, not a loss.
    stale = entry_upload(entry_id, device="phone", content=b"v1", base_revision=3)
    conflict = await push(client, ada, stale, 409)
    assert "conflict_id" in conflict["detail"]
