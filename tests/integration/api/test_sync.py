"""Entry sync: uploads and retries, conflicts and their resolution, listings, the change
feed with tombstones, deletions, tier checks and user isolation."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

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


async def push(client: Client, account: Account, body: dict[str, Any]) -> Any:
    return await client.post("/api/sync/backup", json=body, headers=account.headers)


async def read(client: Client, account: Account, path: str) -> Any:
    response = await client.get(path, headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_upload_answers_201_with_revision(client: Client, synced_user: Account) -> None:
    body = entry_upload(updated_at="2026-11-01T11:00:00+02:00")
    response = await push(client, synced_user, body)
    assert response.status_code == 201
    stored = response.json()
    assert stored["id"] == body["id"] and stored["user_id"] == synced_user.id
    assert stored["device_id"] == "laptop" and stored["revision"] == 1
    assert stored["created_at"] == "2026-11-01T08:00:00Z"
    assert stored["updated_at"] == "2026-11-01T09:00:00Z"  # answered in UTC
    assert isinstance(stored["message"], str)
    # The client retries on failure: the same upload again is a no-op success.
    retry = await push(client, synced_user, body)
    assert retry.status_code == 201 and retry.json()["revision"] == 1


async def test_same_device_edits_become_new_revisions(client: Client, synced_user: Account) -> None:
    entry_id = uuid.uuid4()
    await push(client, synced_user, entry_upload(entry_id))
    second = await push(client, synced_user, entry_upload(entry_id))
    assert second.status_code == 201 and second.json()["revision"] == 2


async def test_backups_listing(client: Client, synced_user: Account) -> None:
    uploads = [entry_upload(device="laptop") for _ in range(3)]
    uploads.append(
        entry_upload(
            device="phone", encrypted_embedding=b64(b"e" * 32), embedding_iv=b64(b"i" * 12)
        )
    )
    for body in uploads:
        assert (await push(client, synced_user, body)).status_code == 201

    everything = await client.get("/api/sync/backups", headers=synced_user.headers)
    assert everything.status_code == 200
    page = everything.json()
    assert page["total_count"] == 4 and page["has_more"] is False
    assert {b["id"] for b in page["backups"]} == {u["id"] for u in uploads}
    first = next(b for b in page["backups"] if b["id"] == uploads[0]["id"])
    for field in (
        "encrypted_content",
        "content_iv",
        "content_tag",
        "created_at",
        "updated_at",
        "device_id",
    ):
        assert first[field] == uploads[0][field], field
    assert first["revision"] == 1 and first["encrypted_embedding"] is None

    others = await client.get(
        "/api/sync/backups", params={"device_id": "phone"}, headers=synced_user.headers
    )
    assert {b["device_id"] for b in others.json()["backups"]} == {"laptop"}

    paged = await client.get(
        "/api/sync/backups", params={"limit": 2, "offset": 1}, headers=synced_user.headers
    )
    assert len(paged.json()["backups"]) == 2 and paged.json()["has_more"] is True
    assert paged.json()["total_count"] == 4

    later = await client.get(
        "/api/sync/backups", params={"since": "2999-01-01T00:00:00Z"}, headers=synced_user.headers
    )
    assert later.json() == {"backups": [], "has_more": False, "total_count": 0}
    since = await client.get(
        "/api/sync/backups",
        params={"since": "2000-01-01T01:00:00+01:00"},
        headers=synced_user.headers,
    )
    assert since.json()["total_count"] == 4


async def test_backups_listing_validation(client: Client, synced_user: Account) -> None:
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"limit": 0}, ["query", "limit"]),
        ({"limit": 501}, ["query", "limit"]),
        ({"limit": "many"}, ["query", "limit"]),
        ({"offset": -1}, ["query", "offset"]),
        ({"since": "last week"}, ["query", "since"]),
        ({"since": "2026-11-01T00:00:00"}, ["query", "since"]),  # no offset: ambiguous
    ]
    for params, loc in cases:
        response = await client.get("/api/sync/backups", params=params, headers=synced_user.headers)
        assert response.status_code == 422, params
        assert response.json()["detail"][0]["loc"] == loc, params
    assert (
        await client.get("/api/sync/backups", params={"limit": 500}, headers=synced_user.headers)
    ).status_code == 200


async def test_upload_validation(client: Client, synced_user: Account) -> None:
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"content_iv": b64(b"short")}, ["body", "content_iv"]),
        ({"content_iv": "not base64!"}, ["body", "content_iv"]),
        ({"content_tag": b64(b"x" * 5)}, ["body", "content_tag"]),
        ({"id": "not-a-uuid"}, ["body", "id"]),
        ({"created_at": "2026-11-01T08:00:00"}, ["body", "created_at"]),
        ({"device_id": ""}, ["body", "device_id"]),
        ({"base_revision": 0}, ["body", "base_revision"]),
    ]
    for change, loc in cases:
        response = await push(client, synced_user, {**entry_upload(), **change})
        assert response.status_code == 422, change
        assert response.json()["detail"][0]["loc"] == loc, (change, response.json())


async def test_conflict_then_resolution(client: Client, synced_user: Account) -> None:
    entry_id = uuid.uuid4()
    await push(client, synced_user, entry_upload(entry_id, device="laptop"))
    phone_version = entry_upload(entry_id, device="phone", updated_at="2026-11-01T10:00:00Z")
    conflict = await push(client, synced_user, phone_version)
    assert conflict.status_code == 409
    detail = conflict.json()["detail"]
    assert set(detail) == {"message", "conflict_id", "log_id"}
    assert detail["log_id"] == str(entry_id)
    # The phone retries: the same conflict, not a new one.
    again = await push(client, synced_user, phone_version)
    assert (
        again.status_code == 409 and again.json()["detail"]["conflict_id"] == detail["conflict_id"]
    )

    listed = await client.get("/api/sync/conflicts", headers=synced_user.headers)
    assert listed.status_code == 200
    assert listed.json()["total_count"] == 1
    [item] = listed.json()["conflicts"]
    assert (item["id"], item["log_id"]) == (detail["conflict_id"], str(entry_id))
    assert item["local_version"] == {
        "encrypted_content": phone_version["encrypted_content"],
        "iv": phone_version["content_iv"],
        "tag": phone_version["content_tag"],
        "updated_at": "2026-11-01T10:00:00Z",
        "device_id": "phone",
    }
    assert item["remote_version"]["device_id"] == "laptop"
    assert item["detected_at"].endswith("Z")

    merged = await client.post(
        f"/api/sync/conflicts/{item['id']}/resolve",
        json={
            "chosen_version": "merged",
            "final_encrypted_content": b64(b"merged!"),
            "final_iv": b64(b"m" * 12),
        },
        headers=synced_user.headers,
    )
    assert merged.status_code == 200
    assert merged.json()["success"] is True
    assert merged.json()["details"]["revision"] == 2
    assert (await read(client, synced_user, "/api/sync/conflicts")) == {
        "conflicts": [],
        "total_count": 0,
        "has_more": False,
    }
    [backup] = (await read(client, synced_user, "/api/sync/backups"))["backups"]
    assert backup["encrypted_content"] == b64(b"merged!") and backup["revision"] == 2
    resolved_twice = await client.post(
        f"/api/sync/conflicts/{item['id']}/resolve",
        json={"chosen_version": "remote"},
        headers=synced_user.headers,
    )
    assert resolved_twice.status_code == 404


@pytest.mark.parametrize("choice, winner", [("local", "phone"), ("remote", "laptop")])
async def test_resolve_local_or_remote(
    client: Client, synced_user: Account, choice: str, winner: str
) -> None:
    entry_id = uuid.uuid4()
    await push(client, synced_user, entry_upload(entry_id, device="laptop"))
    conflict = await push(client, synced_user, entry_upload(entry_id, device="phone"))
    conflict_id = conflict.json()["detail"]["conflict_id"]
    response = await client.post(
        f"/api/sync/conflicts/{conflict_id}/resolve",
        json={"chosen_version": choice},
        headers=synced_user.headers,
    )
    assert response.status_code == 200
    [backup] = (await read(client, synced_user, "/api/sync/backups"))["backups"]
    assert backup["device_id"] == winner


async def test_resolve_validation_and_unknown(client: Client, synced_user: Account) -> None:
    entry_id = uuid.uuid4()
    await push(client, synced_user, entry_upload(entry_id, device="laptop"))
    conflict_id = (await push(client, synced_user, entry_upload(entry_id, device="phone"))).json()[
        "detail"
    ]["conflict_id"]
    for body in (
        {"chosen_version": "merged"},
        {"chosen_version": "merged", "final_encrypted_content": b64(b"x")},
        {"chosen_version": "merged", "final_iv": b64(b"i" * 12)},
    ):
        response = await client.post(
            f"/api/sync/conflicts/{conflict_id}/resolve", json=body, headers=synced_user.headers
        )
        assert response.status_code == 422, body
    bad_choice = await client.post(
        f"/api/sync/conflicts/{conflict_id}/resolve",
        json={"chosen_version": "both"},
        headers=synced_user.headers,
    )
    assert bad_choice.status_code == 422
    assert bad_choice.json()["detail"][0]["loc"] == ["body", "chosen_version"]
    for path in (f"/api/sync/conflicts/{uuid.uuid4()}/resolve", "/api/sync/conflicts/nope/resolve"):
        response = await client.post(
            path, json={"chosen_version": "remote"}, headers=synced_user.headers
        )
        assert response.status_code == 404, path


async def test_change_feed_with_cursor_and_tombstones(client: Client, synced_user: Account) -> None:
    ids = [uuid.uuid4() for _ in range(3)]
    for entry_id in ids:
        await push(client, synced_user, entry_upload(entry_id))
    first = await client.get("/api/sync/changes", params={"limit": 2}, headers=synced_user.headers)
    assert first.status_code == 200
    page = first.json()
    assert [c["id"] for c in page["changes"]] == [str(i) for i in ids[:2]]
    assert page["has_more"] is True and isinstance(page["next_cursor"], str)
    assert page["changes"][0]["deleted"] is False and page["changes"][0]["revision"] == 1

    deleted = await client.delete(f"/api/sync/backup/{ids[0]}", headers=synced_user.headers)
    assert deleted.status_code == 200
    assert deleted.json()["success"] is True and deleted.json()["details"]["revision"] == 2

    rest = await client.get(
        "/api/sync/changes", params={"cursor": page["next_cursor"]}, headers=synced_user.headers
    )
    changes = rest.json()["changes"]
    assert [c["id"] for c in changes] == [str(ids[2]), str(ids[0])]
    tombstone = changes[1]
    assert tombstone["deleted"] is True and tombstone["encrypted_content"] is None
    assert rest.json()["has_more"] is False

    done = await client.get(
        "/api/sync/changes",
        params={"cursor": rest.json()["next_cursor"]},
        headers=synced_user.headers,
    )
    assert done.json()["changes"] == [] and done.json()["next_cursor"] == rest.json()["next_cursor"]
    # Tombstones are not backups.
    assert (await read(client, synced_user, "/api/sync/backups"))["total_count"] == 2


async def test_unknown_cursor_is_410(client: Client, synced_user: Account) -> None:
    for cursor in ("999999", "-1", "abc"):
        response = await client.get(
            "/api/sync/changes", params={"cursor": cursor}, headers=synced_user.headers
        )
        assert response.status_code == 410, cursor
        assert "resync" in response.json()["detail"].lower()


async def test_delete_backup_unknown_is_404(client: Client, synced_user: Account) -> None:
    assert (
        await client.delete(f"/api/sync/backup/{uuid.uuid4()}", headers=synced_user.headers)
    ).status_code == 404
    assert (
        await client.delete("/api/sync/backup/not-a-uuid", headers=synced_user.headers)
    ).status_code == 404


async def test_delete_all_backups_and_metrics(
    client: Client, synced_user: Account, he_vectors: dict[str, Any]
) -> None:
    for _ in range(2):
        await push(client, synced_user, entry_upload())
    response = await client.delete("/api/sync/backup/content", headers=synced_user.headers)
    assert response.status_code == 200
    assert response.json()["deleted_backups"] == 2 and isinstance(response.json()["message"], str)
    assert (await read(client, synced_user, "/api/sync/backups"))["total_count"] == 0

    metric = he_vectors["metrics"][0]
    await client.post(
        "/api/encryption/metrics",
        json={"metrics": [{k: metric[k] for k in ("metric_type", "encrypted_value", "timestamp")}]},
        headers=synced_user.headers,
    )
    metrics = await client.delete("/api/sync/metrics/all", headers=synced_user.headers)
    assert metrics.status_code == 200
    assert metrics.json()["deleted_metrics"] == 1


async def test_sync_routes_need_full_sync(
    client: Client, user: Account, he_vectors: dict[str, Any]
) -> None:
    async def statuses() -> list[int]:
        conflict = f"/api/sync/conflicts/{uuid.uuid4()}/resolve"
        return [
            (await push(client, user, entry_upload())).status_code,
            (await client.get("/api/sync/backups", headers=user.headers)).status_code,
            (await client.get("/api/sync/changes", headers=user.headers)).status_code,
            (await client.get("/api/sync/conflicts", headers=user.headers)).status_code,
            (
                await client.delete(f"/api/sync/backup/{uuid.uuid4()}", headers=user.headers)
            ).status_code,
            (
                await client.post(conflict, json={"chosen_version": "remote"}, headers=user.headers)
            ).status_code,
        ]

    assert await statuses() == [403] * 6
    await set_tier(client, user, "analytics_sync", he_vectors["public_key"])
    assert await statuses() == [403] * 6
    # The cleanup routes answer on any tier (a client calls them after downgrading).
    assert (
        await client.delete("/api/sync/backup/content", headers=user.headers)
    ).status_code == 200
    assert (await client.delete("/api/sync/metrics/all", headers=user.headers)).status_code == 200


async def test_users_cannot_reach_each_others_entries(
    client: Client, synced_user: Account, synced_other: Account
) -> None:
    entry_id = uuid.uuid4()
    await push(client, synced_user, entry_upload(entry_id, device="laptop"))
    conflict_id = (await push(client, synced_user, entry_upload(entry_id, device="phone"))).json()[
        "detail"
    ]["conflict_id"]

    assert (
        await client.delete(f"/api/sync/backup/{entry_id}", headers=synced_other.headers)
    ).status_code == 404
    assert (
        await client.post(
            f"/api/sync/conflicts/{conflict_id}/resolve",
            json={"chosen_version": "local"},
            headers=synced_other.headers,
        )
    ).status_code == 404
    assert (await read(client, synced_other, "/api/sync/backups"))["total_count"] == 0
    assert (await read(client, synced_other, "/api/sync/conflicts"))["total_count"] == 0
    assert (await read(client, synced_other, "/api/sync/changes"))["changes"] == []
    # The same entry id under another user is another entry: no conflict with the first user's.
    theirs = await push(client, synced_other, entry_upload(entry_id, device="tablet"))
    assert theirs.status_code == 201 and theirs.json()["revision"] == 1
    # And the first user's data is intact.
    assert (await read(client, synced_user, "/api/sync/conflicts"))["total_count"] == 1
