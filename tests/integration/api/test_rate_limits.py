"""Rate limits on costly routes: 429 with Retry-After, counted in PostgreSQL (so shared by
every worker and app instance on the database)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from reflective_adapters.security import Argon2PasswordHasher
from tests.integration.api.conftest import Client, sign_up

AppWith = Callable[..., AbstractAsyncContextManager[Client]]


def _assert_limited(codes: list[int], allowed: int) -> None:
    assert 429 not in codes[:allowed], codes
    assert codes[allowed:] == [429] * (len(codes) - allowed), codes


async def test_a_registration_flood_is_answered_429(app_with: AppWith) -> None:
    async with app_with(rate_limit_register=(3, 3600)) as client:
        responses = [
            await client.post(
                "/api/auth/register",
                json={"email": f"flood{n}@example.com", "password": "long password"},
            )
            for n in range(6)
        ]
        _assert_limited([r.status_code for r in responses], 3)
        last = responses[-1]
        assert 1 <= int(last.headers["Retry-After"]) <= 3600
        assert last.json() == {
            "detail": "Too many requests; try again later",
            "code": "rate_limited",
        }
        # Refused registrations hashed nothing and stored nothing.
        login = await client.post(
            "/api/auth/token", data={"username": "flood5@example.com", "password": "long password"}
        )
        assert login.status_code == 401


async def test_the_limit_is_shared_by_every_app_on_the_database(app_with: AppWith) -> None:
    """Two apps (as two workers would be) count into one limit."""
    async with (
        app_with(rate_limit_register=(2, 3600)) as first,
        app_with(rate_limit_register=(2, 3600)) as second,
    ):
        codes = []
        for n, client in enumerate([first, second, first, second]):
            body = {"email": f"w{n}@example.com", "password": "long password"}
            codes.append((await client.post("/api/auth/register", json=body)).status_code)
        assert codes == [201, 201, 429, 429]


async def test_refresh_is_rate_limited(app_with: AppWith) -> None:
    async with app_with(rate_limit_refresh=(2, 60)) as client:
        account = await sign_up(client)
        token = account.tokens["refresh_token"]
        codes = []
        for _ in range(4):
            response = await client.post("/api/auth/refresh", json={"refresh_token": token})
            codes.append(response.status_code)
            if response.status_code == 200:
                token = response.json()["refresh_token"]
        assert codes == [200, 200, 429, 429]


async def test_aggregate_metrics_upload_and_export_are_rate_limited_per_user(
    app_with: AppWith,
) -> None:
    limits: dict[str, Any] = {
        "rate_limit_aggregate": (2, 60),
        "rate_limit_metrics_upload": (2, 3600),
        "rate_limit_export": (2, 3600),
    }
    async with app_with(**limits) as client:
        ada = await sign_up(client)
        grace = await sign_up(client, "grace@example.com", "another secret")
        routes = [
            ("POST", "/api/encryption/aggregate", {"metric_type": "word_count"}),
            ("POST", "/api/encryption/metrics", {"metrics": []}),
            ("GET", "/api/users/me/export", None),
        ]
        for method, path, body in routes:
            codes = [
                (await client.request(method, path, json=body, headers=ada.headers)).status_code
                for _ in range(4)
            ]
            _assert_limited(codes, 2)
            # Per user: another user is not refused.
            other = await client.request(method, path, json=body, headers=grace.headers)
            assert other.status_code != 429
        # Without a valid token nothing is counted: the route answers 401.
        anonymous = await client.get("/api/users/me/export")
        assert anonymous.status_code == 401


async def test_registration_hashing_never_takes_the_sign_in_slots() -> None:
    """Registration hashes through a semaphore of its own: with every registration slot
    busy, a sign-in's verification still runs."""
    hasher = Argon2PasswordHasher(max_concurrency=1, time_cost=1, memory_cost=1024, parallelism=1)
    registration = hasher.limited(1)
    stored = await hasher.hash("correct horse")
    async with registration._slots:  # every registration slot taken
        assert await asyncio.wait_for(hasher.verify(stored, "correct horse"), 30)
