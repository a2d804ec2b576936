"""Every kind of error answer, one request each through the real app: ``{"detail": ...,
"code": ...}`` with the code's one status (``STATUS``), and ``detail`` in the shape the web
client reads (a string, the 422 list, the upload-conflict object)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx

from reflective_app.errors import STATUS
from reflective_protocol.errors import ErrorCode
from tests.integration.api.conftest import Account, Client, set_tier
from tests.integration.api.sync_client import entry_upload

AppWith = Callable[..., AbstractAsyncContextManager[Client]]
PROBLEM_KEYS = {"loc", "msg", "type"}


def assert_error(response: httpx.Response, code: ErrorCode, detail: type = str) -> dict[str, Any]:
    """The answer is the error ``code`` at its status, ``detail`` of the given kind."""
    label = f"{response.request.method} {response.request.url.path}: {response.text[:300]}"
    assert response.status_code == STATUS[code], label
    assert response.headers["content-type"].startswith("application/json"), label
    body: dict[str, Any] = response.json()
    assert body["code"] == code.value, label
    assert isinstance(body["detail"], detail), label
    if detail is list:
        assert body["detail"] and all(set(p) == PROBLEM_KEYS for p in body["detail"]), label
    return body


async def test_every_domain_and_framework_error_carries_its_code(
    client: Client, user: Account, he_vectors: dict[str, Any]
) -> None:
    headers = user.headers
    # 401: no token, a wrong token, wrong credentials
    missing = await client.get("/api/users/me")
    assert_error(missing, ErrorCode.NOT_AUTHENTICATED)
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    forged = await client.get("/api/users/me", headers={"Authorization": "Bearer forged"})
    assert_error(forged, ErrorCode.NOT_AUTHENTICATED)
    wrong = await client.post("/api/auth/token", data={"username": user.email, "password": "no"})
    assert_error(wrong, ErrorCode.NOT_AUTHENTICATED)
    # 403: the tier does not permit sync
    assert_error(
        await client.get("/api/sync/backups", headers=headers), ErrorCode.FORBIDDEN_BY_TIER
    )
    # 400: an upgrade without its HE key
    upgrade = {"privacy_tier": "full_sync", "consent_timestamp": "2026-11-01T10:00:00Z"}
    assert_error(
        await client.put("/api/users/me/privacy", json=upgrade, headers=headers),
        ErrorCode.TIER_CHANGE_REJECTED,
    )
    # 404: an unknown object, an unknown route; 405: a known route, another method
    assert_error(
        await client.delete(f"/api/tags/{uuid.uuid4()}", headers=headers), ErrorCode.NOT_FOUND
    )
    assert_error(await client.get("/api/nowhere"), ErrorCode.NOT_FOUND)
    assert_error(await client.put("/api/health"), ErrorCode.METHOD_NOT_ALLOWED)
    # 409: the email is taken; a tag name is taken
    taken = {"email": user.email, "password": "long enough"}
    assert_error(await client.post("/api/auth/register", json=taken), ErrorCode.EMAIL_TAKEN)
    for name in ("one", "two"):
        await client.post("/api/tags", json={"name": name}, headers=headers)
    tags = (await client.get("/api/tags", headers=headers)).json()
    two = next(t["id"] for t in tags if t["name"] == "two")
    assert_error(
        await client.patch(f"/api/tags/{two}", json={"name": "one"}, headers=headers),
        ErrorCode.ALREADY_EXISTS,
    )
    # 422: a domain rule, a schema mismatch, a body that is not JSON
    bad_email = {"email": "not an address", "password": "long enough"}
    assert_error(
        await client.post("/api/auth/register", json=bad_email), ErrorCode.VALIDATION_FAILED, list
    )
    assert_error(
        await client.post("/api/auth/register", json={"email": 7}),
        ErrorCode.VALIDATION_FAILED,
        list,
    )
    not_json = await client.post(
        "/api/auth/register", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert_error(not_json, ErrorCode.VALIDATION_FAILED, list)

    await set_tier(client, user, "full_sync", he_vectors["public_key"])
    # 410: a cursor this server never issued
    assert_error(
        await client.get("/api/sync/changes", params={"cursor": "99999"}, headers=headers),
        ErrorCode.RESYNC_REQUIRED,
    )
    # 413: over the entry size limit (the body itself fits)
    too_big = entry_upload(content=b"x" * (1024 * 1024 + 1))
    assert_error(
        await client.post("/api/sync/backup", json=too_big, headers=headers),
        ErrorCode.QUOTA_EXCEEDED,
    )
    # 409: an upload over a version this device has not seen; the object detail stays exact
    entry_id = uuid.uuid4()
    first = await client.post("/api/sync/backup", json=entry_upload(entry_id), headers=headers)
    assert first.status_code == 201
    clash = entry_upload(entry_id, device="phone", updated_at="2026-11-01T10:00:00Z")
    conflict = assert_error(
        await client.post("/api/sync/backup", json=clash, headers=headers),
        ErrorCode.ENTRY_CONFLICT,
        dict,
    )
    assert set(conflict["detail"]) == {"message", "conflict_id", "log_id"}
    assert set(conflict) == {"detail", "code"}
    # 422 of its own code: a base revision ahead of the server's entry
    ahead = entry_upload(entry_id, base_revision=99, updated_at="2026-11-01T11:00:00Z")
    assert_error(
        await client.post("/api/sync/backup", json=ahead, headers=headers),
        ErrorCode.BASE_REVISION_AHEAD,
        list,
    )


async def test_body_limits_closed_registration_and_rate_limits_carry_their_codes(
    app_with: AppWith,
) -> None:
    async with app_with(
        max_body_bytes=1024, registration_open=False, rate_limit_refresh=(1, 3600)
    ) as app:
        oversized = {"email": "big@example.com", "password": "x" * 2000}
        assert_error(await app.post("/api/auth/register", json=oversized), ErrorCode.BODY_TOO_LARGE)
        closed = {"email": "new@example.com", "password": "long enough"}
        assert_error(
            await app.post("/api/auth/register", json=closed), ErrorCode.REGISTRATION_CLOSED
        )
        refreshes = [
            await app.post("/api/auth/refresh", json={"refresh_token": "unknown"}) for _ in range(2)
        ]
        assert_error(refreshes[0], ErrorCode.NOT_AUTHENTICATED)
        limited = refreshes[1]
        assert_error(limited, ErrorCode.RATE_LIMITED)
        assert int(limited.headers["Retry-After"]) >= 1
