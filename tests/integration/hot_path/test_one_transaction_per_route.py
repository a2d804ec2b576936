"""Every authenticated route checks the access token inside its use case's transaction: no
route opens a transaction of its own just to read the user for the token. Transactions per
request (BEGINs sent to PostgreSQL) are pinned for each route, and the table must name every
authenticated operation the app documents, so a new route cannot slip past it."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.api.conftest import Account, Client, set_tier, sign_up
from tests.integration.api.he_client import metric_payload
from tests.integration.api.sync_client import entry_upload
from tests.integration.hot_path.statements import StatementLog, counting_statements
from tests.integration.security.routes import STREAMING, app_operations

# Transactions per request. One, but where the route's work cannot be one transaction:
PASSWORD_CHECK = 2  # a password's hash is checked between transactions (throttle, then record)
EXPORT_PAGES = 5  # entries, conflicts, metrics, packed years, revisions: a page each
METRICS_UPLOAD = 2  # the tier is checked before the body is read, the metrics written after

TRANSACTIONS = {
    "GET /api/users/me": 1,
    "PUT /api/users/me": 1,
    "GET /api/users/me/preferences": 1,
    "PUT /api/users/me/preferences": 1,
    "GET /api/users/me/privacy": 1,
    "PUT /api/users/me/privacy": 1,
    "GET /api/users/me/export": 1 + EXPORT_PAGES,
    "GET /api/tags": 1,
    "POST /api/tags": 1,
    "PATCH /api/tags/{tag_id}": 1,
    "DELETE /api/tags/cleanup": 1,
    "DELETE /api/tags/{tag_id}": 1,
    "POST /api/sync/backup": 1,
    "POST /api/sync/batch": 1,
    "GET /api/sync/backups": 1,
    "GET /api/sync/changes": 1,
    "GET /api/sync/conflicts": 1,
    "GET /api/sync/conflicts/{conflict_id}": 1,
    "POST /api/sync/conflicts/{conflict_id}/resolve": 1,
    "DELETE /api/sync/backup/{backup_id}": 1,
    "GET /api/sync/entries/{entry_id}/revisions": 1,
    "DELETE /api/sync/entries/{entry_id}/revisions": 1,
    "POST /api/encryption/metrics": METRICS_UPLOAD,
    "POST /api/encryption/aggregate": 1,
    "DELETE /api/encryption/metrics": 1,
    "POST /api/encryption/packed-metrics": 1,
    "GET /api/encryption/packed-aggregate": 1,
    "POST /api/sync/events/ticket": 1,
    "GET /api/sync/devices": 1,
    "DELETE /api/sync/devices/{device_id}": 1,
    "GET /api/auth/sessions": 1,
    "DELETE /api/auth/sessions/{session_id}": 1,
    "POST /api/auth/logout": 1,
    "DELETE /api/sync/metrics/all": 1,
    "DELETE /api/sync/backup/content": 1,
    "DELETE /api/users/me/privacy/revoke": 1,
    "DELETE /api/users/me": 1 + PASSWORD_CHECK + 1,
}


def begins(log: StatementLog) -> int:
    return sum(1 for s in log.statements if s.strip().upper().startswith("BEGIN"))


def test_the_table_names_every_authenticated_operation() -> None:
    documented = {o.label for o in app_operations() if o.needs_token} - STREAMING
    assert documented == set(TRANSACTIONS)


async def login(client: Client, account: Account, device: str) -> dict[str, Any]:
    response = await client.post(
        "/api/auth/token",
        data={"username": account.email, "password": account.password},
        headers={"User-Agent": device},
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


@pytest.fixture
async def account(client: Client, he_vectors: dict[str, Any]) -> Account:
    account = await sign_up(client)
    await set_tier(client, account, "full_sync", he_vectors["public_key"])
    for _ in range(3):
        pushed = await client.post(
            "/api/sync/backup", json=entry_upload(device="phone"), headers=account.headers
        )
        assert pushed.status_code == 201, pushed.text
    return account


async def test_one_transaction_per_authenticated_request(
    client: Client, account: Account, he_vectors: dict[str, Any], pg_engine: AsyncEngine
) -> None:
    headers = account.headers
    # Two conflicts: one to read, one to resolve.
    for _ in range(2):
        body = entry_upload(device="phone")
        assert (await client.post("/api/sync/backup", json=body, headers=headers)).is_success
        body = entry_upload(body["id"], device="tablet")
        conflicted = await client.post("/api/sync/backup", json=body, headers=headers)
        assert conflicted.status_code == 409, conflicted.text
    listed = (await client.get("/api/sync/conflicts", headers=headers)).json()
    conflict_ids = [c["id"] for c in listed["conflicts"]]
    assert len(conflict_ids) == 2
    second = await login(client, account, "ReflectivePhone/1.0")
    sessions = (await client.get("/api/auth/sessions", headers=headers)).json()["sessions"]
    other_session = next(s["id"] for s in sessions if not s["current"])
    third = await login(client, account, "ReflectiveTablet/1.0")
    metrics = [metric_payload(m, log_id=f"e{i}") for i, m in enumerate(he_vectors["metrics"][:2])]
    # Any fresh ciphertext under the user's key is a well-formed packed delta.
    packed = [
        {
            "metric_type": "word_count",
            "year": 2026,
            "ciphertext": he_vectors["metrics"][0]["encrypted_value"],
        }
    ]
    tag_id = ""
    delete_id = str(uuid.uuid4())
    pushed = await client.post("/api/sync/backup", json=entry_upload(delete_id), headers=headers)
    assert pushed.status_code == 201

    def call(
        method: str, path: str, body: Any = None, expected: int = 200
    ) -> tuple[Callable[[], Awaitable[httpx.Response]], int]:
        return (lambda: client.request(method, path, json=body, headers=headers), expected)

    calls: list[tuple[str, Callable[[], tuple[Callable[[], Awaitable[httpx.Response]], int]]]]
    calls = [
        ("GET /api/users/me", lambda: call("GET", "/api/users/me")),
        ("PUT /api/users/me", lambda: call("PUT", "/api/users/me", {"display_name": "Ada L"})),
        ("GET /api/users/me/preferences", lambda: call("GET", "/api/users/me/preferences")),
        (
            "PUT /api/users/me/preferences",
            lambda: call("PUT", "/api/users/me/preferences", {"timezone": "Europe/Paris"}),
        ),
        ("GET /api/users/me/privacy", lambda: call("GET", "/api/users/me/privacy")),
        (
            "PUT /api/users/me/privacy",
            lambda: call(
                "PUT",
                "/api/users/me/privacy",
                {
                    "privacy_tier": "full_sync",
                    "consent_timestamp": "2026-11-01T10:00:00Z",
                    "he_public_key": he_vectors["public_key"],
                },
            ),
        ),
        (
            "POST /api/encryption/metrics",
            lambda: call("POST", "/api/encryption/metrics", {"metrics": metrics}, 201),
        ),
        ("GET /api/users/me/export", lambda: call("GET", "/api/users/me/export")),
        ("POST /api/tags", lambda: call("POST", "/api/tags", {"name": "walks"}, 201)),
        ("GET /api/tags", lambda: call("GET", "/api/tags")),
        (
            "PATCH /api/tags/{tag_id}",
            lambda: call("PATCH", f"/api/tags/{tag_id}", {"color": "#00aa00"}),
        ),
        ("DELETE /api/tags/cleanup", lambda: call("DELETE", "/api/tags/cleanup?days=30")),
        ("DELETE /api/tags/{tag_id}", lambda: call("DELETE", f"/api/tags/{tag_id}", None, 204)),
        ("POST /api/sync/backup", lambda: call("POST", "/api/sync/backup", entry_upload(), 201)),
        (
            "POST /api/sync/batch",
            lambda: call(
                "POST", "/api/sync/batch", {"entries": [entry_upload() for _ in range(3)]}
            ),
        ),
        (
            "GET /api/sync/backups",
            lambda: call("GET", "/api/sync/backups?limit=100&device_id=laptop"),
        ),
        (
            "GET /api/sync/changes",
            lambda: call("GET", "/api/sync/changes?limit=100&device_id=laptop"),
        ),
        ("GET /api/sync/conflicts", lambda: call("GET", "/api/sync/conflicts")),
        (
            "GET /api/sync/conflicts/{conflict_id}",
            lambda: call("GET", f"/api/sync/conflicts/{conflict_ids[0]}"),
        ),
        (
            "POST /api/sync/conflicts/{conflict_id}/resolve",
            lambda: call(
                "POST",
                f"/api/sync/conflicts/{conflict_ids[1]}/resolve",
                {"chosen_version": "remote"},
            ),
        ),
        (
            "DELETE /api/sync/backup/{backup_id}",
            lambda: call("DELETE", f"/api/sync/backup/{delete_id}"),
        ),
        (
            "GET /api/sync/entries/{entry_id}/revisions",
            lambda: call("GET", f"/api/sync/entries/{delete_id}/revisions"),
        ),
        (
            "DELETE /api/sync/entries/{entry_id}/revisions",
            lambda: call("DELETE", f"/api/sync/entries/{delete_id}/revisions", None, 204),
        ),
        (
            "POST /api/encryption/aggregate",
            lambda: call(
                "POST",
                "/api/encryption/aggregate",
                {"metric_type": "word_count", "operation": "sum"},
            ),
        ),
        (
            "DELETE /api/encryption/metrics",
            lambda: call("DELETE", "/api/encryption/metrics?log_id=e0"),
        ),
        (
            "POST /api/encryption/packed-metrics",
            lambda: call("POST", "/api/encryption/packed-metrics", {"packed": packed}, 201),
        ),
        (
            "GET /api/encryption/packed-aggregate",
            lambda: call("GET", "/api/encryption/packed-aggregate?metric_type=word_count"),
        ),
        (
            "POST /api/sync/events/ticket",
            lambda: call("POST", "/api/sync/events/ticket", None, 201),
        ),
        ("GET /api/sync/devices", lambda: call("GET", "/api/sync/devices")),
        (
            "DELETE /api/sync/devices/{device_id}",
            lambda: call("DELETE", "/api/sync/devices/phone", None, 204),
        ),
        ("GET /api/auth/sessions", lambda: call("GET", "/api/auth/sessions")),
        (
            "DELETE /api/auth/sessions/{session_id}",
            lambda: call("DELETE", f"/api/auth/sessions/{other_session}", None, 204),
        ),
        (
            "POST /api/auth/logout",
            lambda: call(
                "POST", "/api/auth/logout", {"refresh_token": third["refresh_token"]}, 204
            ),
        ),
        ("DELETE /api/sync/metrics/all", lambda: call("DELETE", "/api/sync/metrics/all")),
        ("DELETE /api/sync/backup/content", lambda: call("DELETE", "/api/sync/backup/content")),
        (
            "DELETE /api/users/me/privacy/revoke",
            lambda: call("DELETE", "/api/users/me/privacy/revoke"),
        ),
        (
            "DELETE /api/users/me",
            lambda: call("DELETE", "/api/users/me", {"password": account.password}, 204),
        ),
    ]
    assert {name for name, _ in calls} == set(TRANSACTIONS)
    assert second["access_token"]
    counts: dict[str, int] = {}
    logs: dict[str, str] = {}
    with counting_statements(pg_engine) as log:
        for name, make in calls:
            request, expected = make()
            log.clear()
            response = await request()
            assert response.status_code == expected, (name, response.text)
            if name == "POST /api/tags":
                tag_id = response.json()["id"]
            counts[name] = begins(log)
            logs[name] = log.describe()
    report = "\n".join(f"{name}: {counts[name]}\n{logs[name]}" for name in counts)
    print(report)
    wrong = {n: (counts[n], TRANSACTIONS[n]) for n in counts if counts[n] != TRANSACTIONS[n]}
    assert not wrong, f"{wrong}\n{report}"


def stale_token_requests(he_vectors: dict[str, Any]) -> dict[str, tuple[str, str, Any]]:
    """A valid request of each authenticated operation (ids that need not exist: the token
    is refused before anything is looked up)."""
    some = str(uuid.uuid4())
    return {
        "GET /api/users/me": ("GET", "/api/users/me", None),
        "PUT /api/users/me": ("PUT", "/api/users/me", {"display_name": "Eve"}),
        "GET /api/users/me/preferences": ("GET", "/api/users/me/preferences", None),
        "PUT /api/users/me/preferences": ("PUT", "/api/users/me/preferences", {"locale": "fr"}),
        "GET /api/users/me/privacy": ("GET", "/api/users/me/privacy", None),
        "PUT /api/users/me/privacy": (
            "PUT",
            "/api/users/me/privacy",
            {
                "privacy_tier": "full_sync",
                "consent_timestamp": "2026-11-01T10:00:00Z",
                "he_public_key": he_vectors["public_key"],
            },
        ),
        "GET /api/users/me/export": ("GET", "/api/users/me/export", None),
        "GET /api/tags": ("GET", "/api/tags", None),
        "POST /api/tags": ("POST", "/api/tags", {"name": "eve"}),
        "PATCH /api/tags/{tag_id}": ("PATCH", f"/api/tags/{some}", {"color": "#000000"}),
        "DELETE /api/tags/cleanup": ("DELETE", "/api/tags/cleanup?days=1", None),
        "DELETE /api/tags/{tag_id}": ("DELETE", f"/api/tags/{some}", None),
        "POST /api/sync/backup": ("POST", "/api/sync/backup", entry_upload()),
        "POST /api/sync/batch": ("POST", "/api/sync/batch", {"entries": [entry_upload()]}),
        "GET /api/sync/backups": ("GET", "/api/sync/backups", None),
        "GET /api/sync/changes": ("GET", "/api/sync/changes", None),
        "GET /api/sync/conflicts": ("GET", "/api/sync/conflicts", None),
        "GET /api/sync/conflicts/{conflict_id}": ("GET", f"/api/sync/conflicts/{some}", None),
        "POST /api/sync/conflicts/{conflict_id}/resolve": (
            "POST",
            f"/api/sync/conflicts/{some}/resolve",
            {"chosen_version": "remote"},
        ),
        "DELETE /api/sync/backup/{backup_id}": ("DELETE", f"/api/sync/backup/{some}", None),
        "GET /api/sync/entries/{entry_id}/revisions": (
            "GET",
            f"/api/sync/entries/{some}/revisions",
            None,
        ),
        "DELETE /api/sync/entries/{entry_id}/revisions": (
            "DELETE",
            f"/api/sync/entries/{some}/revisions",
            None,
        ),
        "POST /api/encryption/metrics": (
            "POST",
            "/api/encryption/metrics",
            {"metrics": [metric_payload(he_vectors["metrics"][0])]},
        ),
        "POST /api/encryption/aggregate": (
            "POST",
            "/api/encryption/aggregate",
            {"metric_type": "word_count", "operation": "sum"},
        ),
        "DELETE /api/encryption/metrics": ("DELETE", "/api/encryption/metrics?log_id=e0", None),
        "POST /api/encryption/packed-metrics": (
            "POST",
            "/api/encryption/packed-metrics",
            {
                "packed": [
                    {
                        "metric_type": "word_count",
                        "year": 2026,
                        "ciphertext": he_vectors["metrics"][0]["encrypted_value"],
                    }
                ]
            },
        ),
        "GET /api/encryption/packed-aggregate": (
            "GET",
            "/api/encryption/packed-aggregate?metric_type=word_count",
            None,
        ),
        "POST /api/sync/events/ticket": ("POST", "/api/sync/events/ticket", None),
        "GET /api/sync/devices": ("GET", "/api/sync/devices", None),
        "DELETE /api/sync/devices/{device_id}": ("DELETE", "/api/sync/devices/phone", None),
        "GET /api/auth/sessions": ("GET", "/api/auth/sessions", None),
        "DELETE /api/auth/sessions/{session_id}": ("DELETE", f"/api/auth/sessions/{some}", None),
        "POST /api/auth/logout": ("POST", "/api/auth/logout", None),
        "DELETE /api/sync/metrics/all": ("DELETE", "/api/sync/metrics/all", None),
        "DELETE /api/sync/backup/content": ("DELETE", "/api/sync/backup/content", None),
        "DELETE /api/users/me/privacy/revoke": ("DELETE", "/api/users/me/privacy/revoke", None),
        "DELETE /api/users/me": ("DELETE", "/api/users/me", {"password": "correct horse"}),
    }


async def test_every_authenticated_route_refuses_a_token_a_password_change_ended(
    client: Client, account: Account, he_vectors: dict[str, Any]
) -> None:
    requests = stale_token_requests(he_vectors)
    assert set(requests) == set(TRANSACTIONS)
    stale = account.headers
    changed = await client.put(
        "/api/users/me",
        json={"current_password": account.password, "password": "a brand new secret"},
        headers=stale,
    )
    assert changed.status_code == 200, changed.text
    for name, (method, path, body) in requests.items():
        response = await client.request(method, path, json=body, headers=stale)
        assert response.status_code == 401, (name, response.text)
    # Nothing was written with the stale token: the account and its entries are all there.
    login = await client.post(
        "/api/auth/token", data={"username": account.email, "password": "a brand new secret"}
    )
    assert login.status_code == 200, login.text
    fresh = {"Authorization": f"Bearer {login.json()['access_token']}"}
    listing = await client.get("/api/sync/backups", headers=fresh)
    assert listing.status_code == 200, listing.text
    assert listing.json()["total_count"] == 3
    profile = (await client.get("/api/users/me", headers=fresh)).json()
    assert profile["display_name"] != "Eve"
