"""The sync routes check the access token inside their use case's transaction (no separate
authorization transaction): a token a password change ended is refused there, before
anything is written, and a token of a deleted account is refused too."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.integration.api.conftest import Account, Client, set_tier, sign_up
from tests.integration.api.sync_client import entry_upload

HOT_ROUTES = [
    ("GET", "/api/sync/backups?limit=100&device_id=phone", None),
    ("GET", "/api/sync/changes?limit=100&device_id=phone", None),
    ("GET", "/api/sync/conflicts", None),
    ("GET", "/api/users/me", None),
    ("GET", "/api/tags", None),
    ("DELETE", f"/api/sync/backup/{uuid.uuid4()}", None),
    ("POST", f"/api/sync/conflicts/{uuid.uuid4()}/resolve", {"chosen_version": "remote"}),
]


@pytest.fixture
async def synced(client: Client, he_vectors: dict[str, Any]) -> Account:
    account = await sign_up(client)
    await set_tier(client, account, "full_sync", he_vectors["public_key"])
    return account


async def count_entries(client: Client, account: Account) -> int:
    listing = await client.get("/api/sync/backups", headers=account.headers)
    assert listing.status_code == 200, listing.text
    return int(listing.json()["total_count"])


async def test_a_token_ended_by_a_password_change_is_refused_on_every_sync_route(
    client: Client, synced: Account
) -> None:
    old_headers = synced.headers
    for method, path, body in HOT_ROUTES:  # the token works before the change
        response = await client.request(method, path, json=body, headers=old_headers)
        assert response.status_code != 401, (method, path, response.text)
    changed = await client.put(
        "/api/users/me",
        json={"current_password": synced.password, "password": "a brand new secret"},
        headers=old_headers,
    )
    assert changed.status_code == 200, changed.text
    refused = await client.post("/api/sync/backup", json=entry_upload(), headers=old_headers)
    assert refused.status_code == 401, refused.text
    assert refused.json() == {
        "detail": "Could not validate credentials",
        "code": "not_authenticated",
    }
    for method, path, body in HOT_ROUTES:
        response = await client.request(method, path, json=body, headers=old_headers)
        assert response.status_code == 401, (method, path, response.text)
    # Signed in again, the same routes answer, and the refused upload stored nothing.
    login = await client.post(
        "/api/auth/token", data={"username": synced.email, "password": "a brand new secret"}
    )
    synced.tokens = login.json()
    assert await count_entries(client, synced) == 0
    accepted = await client.post("/api/sync/backup", json=entry_upload(), headers=synced.headers)
    assert accepted.status_code == 201, accepted.text


async def test_a_token_of_a_deleted_account_is_refused(client: Client, synced: Account) -> None:
    headers = synced.headers
    deleted = await client.request(
        "DELETE", "/api/users/me", json={"password": synced.password}, headers=headers
    )
    assert deleted.status_code == 204, deleted.text
    for method, path, body in [("POST", "/api/sync/backup", entry_upload()), *HOT_ROUTES]:
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, (method, path, response.text)


async def test_a_forged_token_never_reaches_the_database(client: Client, synced: Account) -> None:
    forged = {"Authorization": f"Bearer {synced.tokens['access_token']}x"}
    for method, path, body in [("POST", "/api/sync/backup", entry_upload()), *HOT_ROUTES]:
        response = await client.request(method, path, json=body, headers=forged)
        assert response.status_code == 401, (method, path, response.text)
