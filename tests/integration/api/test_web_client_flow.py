"""The Reflective web client's whole journey, in the order it makes its calls."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.integration.api.conftest import Client, b64, bearer
from tests.integration.api.he_client import decrypt, metric_payload
from tests.integration.api.sync_client import entry_upload


async def test_web_client_flow(client: Client, he_vectors: dict[str, Any]) -> None:
    # Sign up and sign in (the login is a form).
    registered = await client.post(
        "/api/auth/register",
        json={
            "email": "writer@example.com",
            "password": "journal every day",
            "display_name": "Writer",
        },
    )
    assert registered.status_code == 201
    login = await client.post(
        "/api/auth/token", data={"username": "writer@example.com", "password": "journal every day"}
    )
    assert login.status_code == 200 and login.json()["token_type"] == "bearer"
    auth = bearer(login.json()["access_token"])
    assert (await client.get("/api/users/me", headers=auth)).json()["privacy_tier"] == "local_only"

    # Upgrade: fetch the HE parameters, make keys (the vectors' keys), send the public key.
    context = (await client.get("/api/encryption/context")).json()
    assert context["context_params"]["poly_modulus_degree"] == 8192
    upgraded = await client.put(
        "/api/users/me/privacy",
        json={
            "privacy_tier": "full_sync",
            "consent_timestamp": "2026-11-20T10:00:00.123Z",
            "he_public_key": he_vectors["public_key"],
        },
        headers=auth,
    )
    assert upgraded.status_code == 200 and upgraded.json()["current_tier"] == "full_sync"

    # Every entry's metrics in one request, with the client's extra log_id fields.
    metrics = [metric_payload(m, log_id=str(uuid.uuid4())) for m in he_vectors["metrics"]]
    uploaded = await client.post("/api/encryption/metrics", json={"metrics": metrics}, headers=auth)
    assert uploaded.status_code == 201
    assert uploaded.json()["details"]["count"] == len(metrics)

    # Aggregate, then decrypt on the client.
    average = await client.post(
        "/api/encryption/aggregate",
        json={"metric_type": "word_count", "operation": "average"},
        headers=auth,
    )
    assert average.status_code == 200
    expected = he_vectors["expected"]["word_count"]
    assert average.json()["count"] == expected["count"]
    assert decrypt(he_vectors, average.json()["encrypted_result"]) == pytest.approx(
        expected["average"], abs=he_vectors["tolerance"]
    )

    # Back up an entry from the laptop; the phone, not having seen it, uploads its own edit.
    log_id = uuid.uuid4()
    laptop = await client.post(
        "/api/sync/backup", json=entry_upload(log_id, device="laptop"), headers=auth
    )
    assert laptop.status_code == 201
    phone = await client.post(
        "/api/sync/backup",
        json=entry_upload(log_id, device="phone", updated_at="2026-11-21T08:00:00Z"),
        headers=auth,
    )
    assert phone.status_code == 409
    assert phone.json()["detail"]["log_id"] == str(log_id)

    # The client lists conflicts, picks the one of its entry, and merges.
    conflicts = (await client.get("/api/sync/conflicts", headers=auth)).json()["conflicts"]
    mine = next(c for c in conflicts if c["log_id"] == str(log_id))
    assert mine["id"] == phone.json()["detail"]["conflict_id"]
    resolved = await client.post(
        f"/api/sync/conflicts/{mine['id']}/resolve",
        json={
            "chosen_version": "merged",
            "final_encrypted_content": b64(b"merged text"),
            "final_iv": b64(b"n" * 12),
        },
        headers=auth,
    )
    assert resolved.status_code == 200 and resolved.json()["success"] is True
    [backup] = (await client.get("/api/sync/backups", headers=auth)).json()["backups"]
    assert backup["encrypted_content"] == b64(b"merged text")
    assert (await client.get("/api/users/me", headers=auth)).json()["logs_count"] == 1

    # Downgrade full -> analytics: entries go, metrics stay; the client then cleans up.
    analytics = await client.put(
        "/api/users/me/privacy",
        json={"privacy_tier": "analytics_sync", "consent_timestamp": "2026-11-22T10:00:00Z"},
        headers=auth,
    )
    assert analytics.status_code == 200 and analytics.json()["current_tier"] == "analytics_sync"
    cleanup = await client.delete("/api/sync/backup/content", headers=auth)
    assert cleanup.status_code == 200 and cleanup.json()["deleted_backups"] == 0
    assert (await client.get("/api/sync/backups", headers=auth)).status_code == 403
    assert (await client.get("/api/users/me", headers=auth)).json()["logs_count"] == 0
    still = await client.post(
        "/api/encryption/aggregate",
        json={"metric_type": "sentiment_score", "operation": "sum"},
        headers=auth,
    )
    assert still.status_code == 200
    assert decrypt(he_vectors, still.json()["encrypted_result"]) == pytest.approx(
        he_vectors["expected"]["sentiment_score"]["sum"], abs=he_vectors["tolerance"]
    )

    # Downgrade analytics -> local: metrics and the HE key go too.
    local = await client.put(
        "/api/users/me/privacy", json={"privacy_tier": "local_only"}, headers=auth
    )
    assert local.status_code == 200 and local.json()["current_tier"] == "local_only"
    metrics_cleanup = await client.delete("/api/sync/metrics/all", headers=auth)
    assert metrics_cleanup.status_code == 200 and metrics_cleanup.json()["deleted_metrics"] == 0
    assert (
        await client.post(
            "/api/encryption/aggregate",
            json={"metric_type": "word_count", "operation": "sum"},
            headers=auth,
        )
    ).status_code == 403
    export = (await client.get("/api/users/me/export", headers=auth)).json()
    assert export["entries"] == [] and export["conflicts"] == [] and export["metrics"] == []
    assert export["account"]["he_public_key"] is None
    assert export["account"]["privacy_tier"] == "local_only"
