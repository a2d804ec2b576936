"""Body limits (413), unexpected errors (500), an unreachable database (503), and logs
that carry no user data."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from dependency_injector import providers

from reflective_adapters.postgres import make_engine, make_session_factory
from reflective_adapters.postgres.lifecycle import unit_of_work_factory
from reflective_app.body_limits import entry_body_limit
from reflective_app.container import Container
from reflective_domain.entries import EntryLimits
from tests.integration.api.conftest import Account, Client, set_tier, sign_up
from tests.integration.api.he_client import metric_payload
from tests.integration.api.sync_client import entry_upload

AppWith = Callable[..., AbstractAsyncContextManager[Client]]
UNREACHABLE = "postgresql://postgres@127.0.0.1:9/nowhere"  # the discard port: refused


async def test_ordinary_bodies_over_the_limit_are_413(app_with: AppWith) -> None:
    async with app_with(max_body_bytes=1024) as small:
        response = await small.post(
            "/api/auth/register",
            json={"email": "big@example.com", "password": "x" * 2000},
        )
        assert response.status_code == 413
        assert isinstance(response.json()["detail"], str)
        fits = await small.post(
            "/api/auth/register", json={"email": "ok@example.com", "password": "long enough"}
        )
        assert fits.status_code == 201


async def test_metric_uploads_have_their_own_limit(
    app_with: AppWith, he_vectors: dict[str, Any]
) -> None:
    one = metric_payload(he_vectors["metrics"][0])  # ~442 KB of base64
    # The HE key (~620 KB) fits the ordinary limit; two metrics would not, three metrics
    # do not fit the metrics route's own limit.
    async with app_with(max_body_bytes=700_000, max_metrics_body_bytes=1_000_000) as app:
        account = await sign_up(app, "m@example.com", "long enough")
        await set_tier(app, account, "analytics_sync", he_vectors["public_key"])
        fits = await app.post(
            "/api/encryption/metrics", json={"metrics": [one, one]}, headers=account.headers
        )
        assert fits.status_code == 201, fits.text
        too_big = await app.post(
            "/api/encryption/metrics", json={"metrics": [one, one, one]}, headers=account.headers
        )
        assert too_big.status_code == 413
        assert isinstance(too_big.json()["detail"], str)


async def test_entry_uploads_over_the_entry_limit(
    client: Client, user: Account, he_vectors: dict[str, Any]
) -> None:
    await set_tier(client, user, "full_sync", he_vectors["public_key"])
    over_domain_limit = entry_upload(content=b"x" * (1024 * 1024 + 1))  # body still fits
    response = await client.post("/api/sync/backup", json=over_domain_limit, headers=user.headers)
    assert response.status_code == 413
    over_body_limit = entry_upload(content=b"x" * entry_body_limit(EntryLimits()))
    response = await client.post("/api/sync/backup", json=over_body_limit, headers=user.headers)
    assert response.status_code == 413


async def test_the_entry_routes_body_limit_follows_max_entry_bytes(
    client: Client, user: Account, app_with: AppWith, he_vectors: dict[str, Any]
) -> None:
    """The entry routes' body limit comes from the app's settings, not from the defaults."""
    await set_tier(client, user, "full_sync", he_vectors["public_key"])
    three_mib = entry_upload(content=b"x" * (3 * 1024 * 1024))
    refused = await client.post("/api/sync/backup", json=three_mib, headers=user.headers)
    assert refused.status_code == 413  # the default MAX_ENTRY_BYTES is 1 MiB
    async with app_with(max_entry_bytes=4 * 1024 * 1024) as larger:
        stored = await larger.post("/api/sync/backup", json=three_mib, headers=user.headers)
        assert stored.status_code == 201, stored.text
        listed = await larger.get("/api/sync/backups", headers=user.headers)
        assert listed.status_code == 200
        assert len(listed.text) > 3 * 1024 * 1024  # the stored entry, as base64


async def test_unexpected_errors_are_a_bare_500(
    client: Client, user: Account, api_container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        async def __call__(self, user_id: uuid.UUID) -> None:
            raise RuntimeError("sentinel-7f3a: secret detail that must not leak")

    with api_container.get_privacy.override(providers.Object(Broken())):
        response = await client.get("/api/users/me/privacy", headers=user.headers)
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error", "code": "internal_error"}
    assert "sentinel-7f3a" not in caplog.text
    assert any("unhandled_error" in r.getMessage() for r in caplog.records)


async def test_an_unreachable_database_is_503(
    client: Client, user: Account, api_container: Container
) -> None:
    engine = make_engine(UNREACHABLE)
    try:
        broken_uow = providers.Object(unit_of_work_factory(make_session_factory(engine)))
        with api_container.uow_factory.override(broken_uow):
            response = await client.get("/api/users/me", headers=user.headers)
            login = await client.post(
                "/api/auth/token", data={"username": user.email, "password": user.password}
            )
        with api_container.engine.override(providers.Object(engine)):
            ready = await client.get("/api/health/ready")
    finally:
        await engine.dispose()
    assert response.status_code == 503
    assert response.json() == {
        "detail": "Service temporarily unavailable",
        "code": "database_unavailable",
    }
    assert login.status_code == 503
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "failed"


async def test_logs_carry_no_user_data(
    client: Client, he_vectors: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    email, password = "sentinel-mail@example.com", "sentinel-password-42"
    account = await sign_up(client, email, password)
    await set_tier(client, account, "full_sync", he_vectors["public_key"])
    entry = entry_upload(content=b"sentinel-ciphertext")
    await client.post("/api/sync/backup", json=entry, headers=account.headers)
    await client.get(
        "/api/sync/backups", params={"device_id": "sentinel-device"}, headers=account.headers
    )
    await client.post(
        "/api/auth/token", data={"username": email, "password": "sentinel-wrong-password"}
    )
    await client.put(
        "/api/users/me/preferences", json={"timezone": "Sentinel/Zone"}, headers=account.headers
    )
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert "request" in logged  # the request log ran
    for secret in (
        email,
        password,
        "sentinel-wrong-password",
        "sentinel-device",
        "Sentinel/Zone",
        account.tokens["access_token"],
        account.tokens["refresh_token"],
        entry["encrypted_content"],
        he_vectors["public_key"][:64],
        account.id,
    ):
        assert secret not in logged, secret
