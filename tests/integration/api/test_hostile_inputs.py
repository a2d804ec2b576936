"""Inputs that used to answer 500: each now answers a 4xx with a useful detail, and a client
that goes away mid-request is logged as a disconnect, not as a server error."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from reflective_app.main import create_app
from tests.integration.api.conftest import Account, Client, serve, set_tier
from tests.integration.api.sync_client import entry_upload

RESYNC = {"detail": "Unknown cursor: resync from the beginning", "code": "resync_required"}


@pytest.fixture
async def syncing(client: Client, user: Account, he_vectors: dict[str, Any]) -> Account:
    await set_tier(client, user, "full_sync", he_vectors["public_key"])
    return user


@pytest.mark.parametrize(
    "cursor",
    ["²", "١٢", "4" * 4301, "9" * 19, "1" * 30],
    ids=["superscript-two", "arabic-indic-digits", "4301-digits", "beyond-bigint", "30-digits"],
)
async def test_a_cursor_that_is_not_one_is_410(
    client: Client, syncing: Account, cursor: str
) -> None:
    response = await client.get(
        "/api/sync/changes", params={"cursor": cursor}, headers=syncing.headers
    )
    assert response.status_code == 410
    assert response.json() == RESYNC


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/sync/changes"),
        ("GET", "/api/sync/backups"),
        ("DELETE", "/api/sync/backup/00000000-0000-4000-8000-000000000001"),
    ],
)
async def test_an_overlong_device_id_query_parameter_is_422(
    client: Client, syncing: Account, method: str, path: str
) -> None:
    response = await client.request(
        method, path, params={"device_id": "d" * 3000}, headers=syncing.headers
    )
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["query", "device_id"]
    assert "device_id" in problem["msg"]


async def test_a_device_id_at_the_limit_is_accepted(client: Client, syncing: Account) -> None:
    device = "d" * 128
    pushed = await client.post(
        "/api/sync/backup", json=entry_upload(device=device), headers=syncing.headers
    )
    assert pushed.status_code == 201
    pulled = await client.get(
        "/api/sync/changes", params={"device_id": device}, headers=syncing.headers
    )
    assert pulled.status_code == 200
    too_long = await client.post(
        "/api/sync/backup", json=entry_upload(device="d" * 129), headers=syncing.headers
    )
    assert too_long.status_code == 422
    # Forgetting a device takes the same ids: one no upload could have made is refused.
    refused = await client.delete(f"/api/sync/devices/{'d' * 129}", headers=syncing.headers)
    assert refused.status_code == 422
    assert "device_id" in str(refused.json()["detail"])
    forgotten = await client.delete(f"/api/sync/devices/{device}", headers=syncing.headers)
    assert forgotten.status_code == 204


@pytest.mark.parametrize(
    "time_range",
    [
        {"start": "2026-01-01T00:00:00Z", "end": "9999-12-30T00:00:00Z"},
        {"start": "9999-12-02T00:00:00Z", "end": "9999-12-30T00:00:00Z"},
        {"start": "9999-12-01T10:00:00Z", "end": "9999-12-29T23:59:59.999999Z"},
        {"start": "0001-01-02T00:00:00Z", "end": "0001-02-01T00:00:00Z"},
    ],
    ids=["to-december-9999", "within-december-9999", "cut-december-9999", "from-year-1"],
)
async def test_an_aggregate_range_at_the_ends_of_the_calendar_is_answered(
    client: Client, user: Account, he_vectors: dict[str, Any], time_range: dict[str, str]
) -> None:
    await set_tier(client, user, "analytics_sync", he_vectors["public_key"])
    response = await client.post(
        "/api/encryption/aggregate",
        json={"metric_type": "word_count", "operation": "sum", "time_range": time_range},
        headers=user.headers,
    )
    # No metric there: the right answer is 404 with its detail, not a 500.
    assert response.status_code == 404, response.text
    assert "No word_count metrics" in response.json()["detail"]


async def test_a_client_disconnect_is_logged_as_such(
    api_container: Any, user: Account, caplog: pytest.LogCaptureFixture, pg_clean: None
) -> None:
    caplog.set_level(logging.INFO)
    app = create_app(api_container)
    sent: list[dict[str, Any]] = []
    messages = iter(
        [
            {"type": "http.request", "body": b'{"name": "par', "more_body": True},
            {"type": "http.disconnect"},
        ]
    )

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/tags",
        "raw_path": b"/api/tags",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", b"100"),
            (b"authorization", user.headers["Authorization"].encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    async with serve(app):
        await app(scope, receive, send)  # type: ignore[arg-type]
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 499
    messages_logged = [r.getMessage() for r in caplog.records]
    assert any("client_disconnected" in m for m in messages_logged)
    assert not any("unhandled_error" in m for m in messages_logged)
