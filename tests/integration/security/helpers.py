"""Helpers of the security suites: build a user's cloud data through the API, and read back
everything the server holds for them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.integration.api.conftest import Account, Client, set_tier
from tests.integration.api.he_client import metric_payload
from tests.integration.api.sync_client import entry_upload

Vectors = dict[str, Any]


async def push_entry(client: Client, account: Account, **changes: Any) -> dict[str, Any]:
    """Upload one entry (fresh id unless given); answers the upload body sent."""
    entry_id = changes.pop("entry_id", None)
    body = entry_upload(entry_id, **changes)
    response = await client.post("/api/sync/backup", json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    return body


async def make_conflict(client: Client, account: Account) -> str:
    """An entry edited on two devices without either seeing the other: one open conflict."""
    entry_id = uuid.uuid4()
    await push_entry(client, account, entry_id=entry_id, device="laptop")
    clash = entry_upload(entry_id, device="phone", updated_at="2026-11-01T10:00:00Z")
    response = await client.post("/api/sync/backup", json=clash, headers=account.headers)
    assert response.status_code == 409, response.text
    conflict_id: str = response.json()["detail"]["conflict_id"]
    return conflict_id


async def make_tag(client: Client, account: Account, name: str | None = None) -> dict[str, Any]:
    response = await client.post(
        "/api/tags", json={"name": name or f"tag-{uuid.uuid4().hex[:8]}"}, headers=account.headers
    )
    assert response.status_code == 201, response.text
    tag: dict[str, Any] = response.json()
    return tag


async def upload_metrics(client: Client, account: Account, metrics: list[dict[str, Any]]) -> None:
    # Each metric names an entry, the same ones for every user: a retraction by log_id must
    # still touch only its caller's metrics.
    body = {"metrics": [metric_payload(m, log_id=f"entry-{i}") for i, m in enumerate(metrics)]}
    response = await client.post("/api/encryption/metrics", json=body, headers=account.headers)
    assert response.status_code == 201, response.text


async def export(client: Client, account: Account) -> dict[str, Any]:
    response = await client.get("/api/users/me/export", headers=account.headers)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


async def stored_state(client: Client, account: Account) -> dict[str, Any]:
    """Everything the server holds for the account, as the API shows it: the export (less
    its own timestamp), the live backup count, the open conflicts and the privacy state."""
    document = await export(client, account)
    document.pop("exported_at")
    state: dict[str, Any] = {"export": document}
    for path in ("/api/sync/backups", "/api/sync/conflicts", "/api/users/me/privacy"):
        response = await client.get(path, headers=account.headers)
        # Backups and conflicts answer 403 below full_sync: that answer is the state then.
        assert response.status_code in (200, 403), response.text
        state[path] = (response.status_code, response.json())
    return state


@dataclass
class CloudData:
    """One user's cloud records, and strings that identify them in any answer."""

    account: Account
    entries: list[dict[str, Any]] = field(default_factory=list)
    conflict_ids: list[str] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)

    def markers(self) -> dict[str, str]:
        """Strings only this user's records contain: found in another user's answer, they
        leak."""
        found = {"user id": self.account.id, "email": self.account.email}
        for entry in self.entries:
            found[f"entry {entry['id']}"] = entry["id"]
            found[f"entry {entry['id']} content"] = entry["encrypted_content"]
            found[f"entry {entry['id']} device"] = entry["device_id"]
        for conflict_id in self.conflict_ids:
            found[f"conflict {conflict_id}"] = conflict_id
        for tag in self.tags:
            found[f"tag {tag['id']}"] = tag["id"]
            found[f"tag {tag['id']} name"] = tag["name"]
        return found


async def populate(
    client: Client, account: Account, vectors: Vectors, metrics: list[dict[str, Any]]
) -> CloudData:
    """full_sync, with entries (device ids unique to the user), one of them edited (a kept
    version), an open conflict, tags and the given encrypted metrics."""
    await set_tier(client, account, "full_sync", vectors["public_key"])
    data = CloudData(account)
    own_device = f"device-{uuid.uuid4().hex}"
    for _ in range(2):
        data.entries.append(await push_entry(client, account, device=own_device))
    # An edit, so the first entry has a kept version (revision history) too.
    edit = await push_entry(client, account, entry_id=data.entries[0]["id"], device=own_device)
    data.entries.append(edit)
    data.conflict_ids.append(await make_conflict(client, account))
    data.tags.append(await make_tag(client, account, f"private-{uuid.uuid4().hex[:12]}"))
    if metrics:
        await upload_metrics(client, account, metrics)
    return data
