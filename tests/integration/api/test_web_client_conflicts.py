"""The web client's conflict flow as it really runs: its sync worker retries a conflicting
upload twice (re-encrypting with a fresh IV each time), then the user opens the conflict
screen, which lists conflicts and resolves without naming revisions or generations."""

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


async def conflict_after_retries(client: Client, account: Account, log_id: uuid.UUID) -> str:
    """Device A uploads; device B uploads its own edit three times (the first try and two
    retries at 1 s and 2 s backoff), each with a fresh IV."""
    laptop = await client.post(
        "/api/sync/backup", json=entry_upload(log_id, device="laptop"), headers=account.headers
    )
    assert laptop.status_code == 201
    conflict_ids = set()
    for _ in range(3):
        phone = await client.post(
            "/api/sync/backup",
            json=entry_upload(log_id, device="phone", updated_at="2026-11-21T08:00:00Z"),
            headers=account.headers,
        )
        assert phone.status_code == 409
        detail = phone.json()["detail"]  # the upload's [client] shape, unchanged
        assert set(detail) == {"message", "conflict_id", "log_id"}
        assert detail["log_id"] == str(log_id)
        conflict_ids.add(detail["conflict_id"])
    [conflict_id] = conflict_ids  # one conflict, refreshed by each retry
    return conflict_id


async def listed(client: Client, account: Account, log_id: uuid.UUID) -> dict[str, Any]:
    response = await client.get("/api/sync/conflicts", headers=account.headers)
    assert response.status_code == 200
    return next(c for c in response.json()["conflicts"] if c["log_id"] == str(log_id))


def resolution(choice: str) -> dict[str, Any]:
    body: dict[str, Any] = {"chosen_version": choice}
    if choice == "merged":
        body |= {"final_encrypted_content": b64(b"merged text"), "final_iv": b64(b"n" * 12)}
    return body


@pytest.mark.parametrize("choice", ["local", "remote", "merged"])
async def test_the_first_resolution_after_listing_succeeds(
    client: Client, synced_user: Account, choice: str
) -> None:
    log_id = uuid.uuid4()
    conflict_id = await conflict_after_retries(client, synced_user, log_id)
    shown = await listed(client, synced_user, log_id)
    assert shown["id"] == conflict_id
    resolved = await client.post(
        f"/api/sync/conflicts/{conflict_id}/resolve",
        json=resolution(choice),
        headers=synced_user.headers,
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["success"] is True
    [backup] = (await client.get("/api/sync/backups", headers=synced_user.headers)).json()[
        "backups"
    ]
    expected = {
        "local": shown["local_version"]["encrypted_content"],
        "remote": shown["remote_version"]["encrypted_content"],
        "merged": b64(b"merged text"),
    }[choice]
    assert backup["encrypted_content"] == expected
    conflicts = (await client.get("/api/sync/conflicts", headers=synced_user.headers)).json()
    assert conflicts["total_count"] == 0


@pytest.mark.parametrize("moved_on", ["entry", "local side"])
async def test_a_resolution_after_the_conflict_moved_on_is_refused_with_a_string_detail(
    client: Client, synced_user: Account, moved_on: str
) -> None:
    log_id = uuid.uuid4()
    conflict_id = await conflict_after_retries(client, synced_user, log_id)
    await listed(client, synced_user, log_id)
    if moved_on == "entry":  # device A writes again: a version nobody was shown
        newer = await client.post(
            "/api/sync/backup",
            json=entry_upload(log_id, device="laptop", updated_at="2026-11-22T08:00:00Z"),
            headers=synced_user.headers,
        )
        assert newer.status_code == 201
        choice = "local"
    else:  # device B's sync worker sends its edit once more, re-encrypted
        again = await client.post(
            "/api/sync/backup",
            json=entry_upload(log_id, device="phone"),
            headers=synced_user.headers,
        )
        assert again.status_code == 409
        choice = "remote"
    refused = await client.post(
        f"/api/sync/conflicts/{conflict_id}/resolve",
        json=resolution(choice),
        headers=synced_user.headers,
    )
    assert refused.status_code == 409
    body = refused.json()
    assert isinstance(body["detail"], str) and "list conflicts again" in body["detail"]
    assert body["conflict_id"] == conflict_id and body["code"] == "stale_resolution"
    assert body["log_id"] == str(log_id)
    # Refused again until listed: the refusal showed nothing.
    again = await client.post(
        f"/api/sync/conflicts/{conflict_id}/resolve",
        json=resolution(choice),
        headers=synced_user.headers,
    )
    assert again.status_code == 409
    # Listed again, the resolution applies to what the listing showed.
    shown = await listed(client, synced_user, log_id)
    resolved = await client.post(
        f"/api/sync/conflicts/{conflict_id}/resolve",
        json=resolution(choice),
        headers=synced_user.headers,
    )
    assert resolved.status_code == 200, resolved.text
    [backup] = (await client.get("/api/sync/backups", headers=synced_user.headers)).json()[
        "backups"
    ]
    side = "local_version" if choice == "local" else "remote_version"
    assert backup["encrypted_content"] == shown[side]["encrypted_content"]


async def test_a_conflict_fetched_alone_is_shown_too(
    client: Client, synced_user: Account, other_user: Account, he_vectors: dict[str, Any]
) -> None:
    await set_tier(client, other_user, "full_sync", he_vectors["public_key"])
    log_id = uuid.uuid4()
    conflict_id = await conflict_after_retries(client, synced_user, log_id)
    path = f"/api/sync/conflicts/{conflict_id}"
    fetched = await client.get(path, headers=synced_user.headers)
    assert fetched.status_code == 200
    assert fetched.json() == await listed(client, synced_user, log_id)  # the listing's item
    assert (await client.get(path, headers=other_user.headers)).status_code == 404
    resolved = await client.post(
        f"{path}/resolve", json=resolution("local"), headers=synced_user.headers
    )
    assert resolved.status_code == 200, resolved.text
    assert (await client.get(path, headers=synced_user.headers)).status_code == 404


async def test_only_the_fetch_confirms_when_nothing_was_listed(
    client: Client, synced_user: Account
) -> None:
    log_id = uuid.uuid4()
    conflict_id = await conflict_after_retries(client, synced_user, log_id)
    path = f"/api/sync/conflicts/{conflict_id}"
    refused = await client.post(
        f"{path}/resolve", json=resolution("remote"), headers=synced_user.headers
    )
    assert refused.status_code == 409  # the retries' versions were never shown
    assert (await client.get(path, headers=synced_user.headers)).status_code == 200
    resolved = await client.post(
        f"{path}/resolve", json=resolution("remote"), headers=synced_user.headers
    )
    assert resolved.status_code == 200, resolved.text
