"""Profile, preferences, privacy tiers, export and account deletion."""

from __future__ import annotations

import base64
from typing import Any

from reflective_adapters.he.header import CompressionMode, read_header
from tests.integration.api.conftest import Account, Client, bearer, set_tier, sign_up
from tests.unit.he.client_side import seal_content


async def test_profile_update(client: Client, user: Account) -> None:
    response = await client.put(
        "/api/users/me",
        json={"display_name": "Ada L.", "timezone": "Europe/London", "locale": "en-GB"},
        headers=user.headers,
    )
    assert response.status_code == 200
    profile = response.json()
    assert (profile["display_name"], profile["timezone"], profile["locale"]) == (
        "Ada L.",
        "Europe/London",
        "en-GB",
    )
    assert (await client.get("/api/users/me", headers=user.headers)).json() == profile


async def test_email_change_and_collision(
    client: Client, user: Account, other_user: Account
) -> None:
    taken = await client.put(
        "/api/users/me",
        json={"email": other_user.email, "current_password": user.password},
        headers=user.headers,
    )
    assert taken.status_code == 409
    changed = await client.put(
        "/api/users/me",
        json={"email": "ada@new.example.com", "current_password": user.password},
        headers=user.headers,
    )
    assert changed.status_code == 200 and changed.json()["email"] == "ada@new.example.com"
    login = await client.post(
        "/api/auth/token", data={"username": "ada@new.example.com", "password": user.password}
    )
    assert login.status_code == 200


async def test_profile_update_validation(client: Client, user: Account) -> None:
    response = await client.put(
        "/api/users/me", json={"timezone": "Nowhere/Land"}, headers=user.headers
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "timezone"]
    short = await client.put(
        "/api/users/me",
        json={"current_password": user.password, "password": "short"},
        headers=user.headers,
    )
    assert short.status_code == 422
    assert short.json()["detail"][0]["loc"] == ["body", "password"]


async def test_preferences_round_trip(client: Client, user: Account) -> None:
    defaults = await client.get("/api/users/me/preferences", headers=user.headers)
    assert defaults.status_code == 200
    assert defaults.json() == {
        "daily_word_goal": 750,
        "writing_reminder_time": None,
        "theme_preferences": {},
        "ai_features_enabled": True,
        "timezone": "UTC",
        "locale": "en-US",
    }
    changed = await client.put(
        "/api/users/me/preferences",
        json={
            "daily_word_goal": 1000,
            "writing_reminder_time": "07:30",
            "theme_preferences": {"mode": "dark"},
            "ai_features_enabled": False,
            "unknown": 1,
        },
        headers=user.headers,
    )
    assert changed.status_code == 200
    assert changed.json()["daily_word_goal"] == 1000
    assert changed.json()["writing_reminder_time"] == "07:30"
    assert changed.json()["timezone"] == "UTC"  # untouched
    cleared = await client.put(
        "/api/users/me/preferences", json={"writing_reminder_time": None}, headers=user.headers
    )
    assert cleared.json()["writing_reminder_time"] is None
    assert cleared.json()["daily_word_goal"] == 1000
    me = (await client.get("/api/users/me", headers=user.headers)).json()
    assert me["theme_preferences"] == {"mode": "dark"} and me["ai_features_enabled"] is False


async def test_preferences_validation(client: Client, user: Account) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"timezone": "Not/AZone"}, "timezone"),
        ({"writing_reminder_time": "7:30pm"}, "writing_reminder_time"),
        ({"writing_reminder_time": "24:00"}, "writing_reminder_time"),
        ({"daily_word_goal": 0}, "daily_word_goal"),
        ({"daily_word_goal": 100_001}, "daily_word_goal"),
        ({"daily_word_goal": "many"}, "daily_word_goal"),
        ({"timezone": None}, "timezone"),
    ]
    for body, field in cases:
        response = await client.put("/api/users/me/preferences", json=body, headers=user.headers)
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["loc"] == ["body", field], body


async def test_privacy_defaults(client: Client, user: Account) -> None:
    response = await client.get("/api/users/me/privacy", headers=user.headers)
    assert response.status_code == 200
    assert response.json() == {
        "current_tier": "local_only",
        "sync_enabled": False,
        "sync_enabled_at": None,
        "features_available": {
            "local_storage": True,
            "local_themes": True,
            "local_search": True,
            "cloud_sync": False,
            "cross_device_search": False,
            "encrypted_backup": False,
            "analytics_sync": False,
        },
    }


async def test_upgrade_needs_an_he_key(client: Client, user: Account) -> None:
    response = await client.put(
        "/api/users/me/privacy",
        json={"privacy_tier": "analytics_sync", "consent_timestamp": "2026-11-01T10:00:00Z"},
        headers=user.headers,
    )
    assert response.status_code == 400
    assert "he_public_key" in response.json()["detail"]


async def test_upgrade_with_a_bad_key_is_422(
    client: Client, user: Account, he_vectors: dict[str, Any]
) -> None:
    for key in (he_vectors["rejects"]["random_bytes"], "QUJD"):
        response = await client.put(
            "/api/users/me/privacy",
            json={
                "privacy_tier": "full_sync",
                "consent_timestamp": "2026-11-01T10:00:00Z",
                "he_public_key": key,
            },
            headers=user.headers,
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "he_public_key"]
    not_base64 = await client.put(
        "/api/users/me/privacy",
        json={
            "privacy_tier": "full_sync",
            "consent_timestamp": "2026-11-01T10:00:00Z",
            "he_public_key": "@@not-base64@@",
        },
        headers=user.headers,
    )
    assert not_base64.status_code == 422
    assert not_base64.json()["detail"][0]["loc"] == ["body", "he_public_key"]


async def test_unknown_tier_and_naive_timestamp_are_422(client: Client, user: Account) -> None:
    unknown = await client.put(
        "/api/users/me/privacy", json={"privacy_tier": "everything"}, headers=user.headers
    )
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["body", "privacy_tier"]
    naive = await client.put(
        "/api/users/me/privacy",
        json={"privacy_tier": "analytics_sync", "consent_timestamp": "2026-11-01T10:00:00"},
        headers=user.headers,
    )
    assert naive.status_code == 422
    assert naive.json()["detail"][0]["loc"] == ["body", "consent_timestamp"]


async def test_upgrade_and_revoke(
    client: Client, user: Account, he_vectors: dict[str, Any]
) -> None:
    state = await set_tier(client, user, "full_sync", he_vectors["public_key"])
    assert state["current_tier"] == "full_sync" and state["sync_enabled"] is True
    assert state["sync_enabled_at"].endswith("Z")
    assert all(state["features_available"].values())
    me = (await client.get("/api/users/me", headers=user.headers)).json()
    assert me["privacy_tier"] == "full_sync"

    revoked = await client.delete("/api/users/me/privacy/revoke", headers=user.headers)
    assert revoked.status_code == 200
    body = revoked.json()
    assert body["new_tier"] == "local_only"
    assert {k: body[k] for k in ("deleted_metrics", "deleted_backups", "deleted_conflicts")} == {
        "deleted_metrics": 0,
        "deleted_backups": 0,
        "deleted_conflicts": 0,
    }
    assert isinstance(body["message"], str)
    privacy = (await client.get("/api/users/me/privacy", headers=user.headers)).json()
    assert privacy["current_tier"] == "local_only" and privacy["sync_enabled_at"] is None
    # The key went with it: upgrading again needs one.
    again = await client.put(
        "/api/users/me/privacy",
        json={"privacy_tier": "analytics_sync", "consent_timestamp": "2026-11-01T10:00:00Z"},
        headers=user.headers,
    )
    assert again.status_code == 400


async def test_export_holds_every_cloud_record(
    client: Client, user: Account, he_vectors: dict[str, Any]
) -> None:
    await set_tier(client, user, "full_sync", he_vectors["public_key"])
    await client.post("/api/tags", json={"name": "travel"}, headers=user.headers)
    metric = he_vectors["metrics"][0]
    await client.post(
        "/api/encryption/metrics",
        json={"metrics": [{k: metric[k] for k in ("metric_type", "encrypted_value", "timestamp")}]},
        headers=user.headers,
    )
    response = await client.get("/api/users/me/export", headers=user.headers)
    assert response.status_code == 200
    document = response.json()
    assert document["account"]["email"] == user.email
    assert document["account"]["he_public_key"] == he_vectors["public_key"]
    assert [t["name"] for t in document["tags"]] == ["travel"]
    # The same ciphertext, as SEAL's own zstd serialization (the server stores it in a compact
    # encoding of its own and re-compresses what it hands out).
    exported = base64.b64decode(document["metrics"][0]["encrypted_value"])
    assert read_header(exported, max_size=len(exported)).compression is CompressionMode.ZSTD
    assert seal_content(exported) == seal_content(base64.b64decode(metric["encrypted_value"]))
    assert document["entries"] == [] and document["conflicts"] == []
    assert "password" not in response.text


async def test_delete_account_needs_the_password(client: Client, user: Account) -> None:
    wrong = await client.request(
        "DELETE", "/api/users/me", json={"password": "not it at all"}, headers=user.headers
    )
    assert wrong.status_code == 401
    missing = await client.request("DELETE", "/api/users/me", json={}, headers=user.headers)
    assert missing.status_code == 422
    gone = await client.request(
        "DELETE", "/api/users/me", json={"password": user.password}, headers=user.headers
    )
    assert gone.status_code == 204
    assert (await client.get("/api/users/me", headers=user.headers)).status_code == 401
    login = await client.post(
        "/api/auth/token", data={"username": user.email, "password": user.password}
    )
    assert login.status_code == 401
    # The email is free again.
    await sign_up(client, user.email, "a brand new one")


async def test_every_user_route_needs_a_token(client: Client) -> None:
    for method, path in [
        ("GET", "/api/users/me"),
        ("PUT", "/api/users/me"),
        ("DELETE", "/api/users/me"),
        ("GET", "/api/users/me/preferences"),
        ("PUT", "/api/users/me/preferences"),
        ("GET", "/api/users/me/privacy"),
        ("PUT", "/api/users/me/privacy"),
        ("DELETE", "/api/users/me/privacy/revoke"),
        ("GET", "/api/users/me/export"),
    ]:
        response = await client.request(method, path, json={}, headers=bearer("x.y.z"))
        assert response.status_code == 401, (method, path)


async def test_profile_update_takes_preference_fields(client: Client, user: Account) -> None:
    response = await client.put(
        "/api/users/me",
        json={"display_name": "Ada", "daily_word_goal": 500, "writing_reminder_time": "07:30"},
        headers=user.headers,
    )
    assert response.status_code == 200, response.text
    profile = response.json()
    assert (profile["display_name"], profile["daily_word_goal"]) == ("Ada", 500)
    assert profile["writing_reminder_time"] == "07:30"
    bad = await client.put("/api/users/me", json={"daily_word_goal": 0}, headers=user.headers)
    assert bad.status_code == 422
