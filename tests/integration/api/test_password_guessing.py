"""Password guessing over HTTP: sign-in lockout that spares the owner, and the profile and
account-deletion routes as password oracles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from reflective_app.main import create_app
from reflective_app.settings import Settings
from tests.integration.api.conftest import Account, Client, make_container, serve, sign_up


@asynccontextmanager
async def from_addresses(
    settings: Settings, engine: AsyncEngine, *hosts: str
) -> AsyncIterator[list[Client]]:
    """One app; a client for each of ``hosts`` (the address the app sees)."""
    app = create_app(make_container(settings, engine))
    async with serve(app):
        clients = [
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, client=(host, 40000)),  # type: ignore[arg-type]
                base_url="http://testserver",
            )
            for host in hosts
        ]
        try:
            yield clients
        finally:
            for c in clients:
                await c.aclose()


async def test_the_owner_signs_in_while_an_attacker_keeps_failing(
    api_settings: Settings, pg_engine: AsyncEngine, pg_clean: None
) -> None:
    async with from_addresses(api_settings, pg_engine, "192.0.2.7", "203.0.113.66") as (
        owner,
        attacker,
    ):
        ada = await sign_up(owner, "ada@example.com", "correct horse")
        wrong = {"username": ada.email, "password": "not the password"}
        right = {"username": ada.email, "password": ada.password}
        codes = []
        for _ in range(40):
            codes.append((await attacker.post("/api/auth/token", data=wrong)).status_code)
            # Between every guess, the owner still signs in.
            assert (await owner.post("/api/auth/token", data=right)).status_code == 200
        assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
        # The attacker's address is locked even with the right password.
        refused = await attacker.post("/api/auth/token", data=right)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1


async def test_an_address_guessing_across_accounts_is_locked_on_all_of_them(
    api_settings: Settings, pg_engine: AsyncEngine, pg_clean: None
) -> None:
    async with from_addresses(api_settings, pg_engine, "192.0.2.7", "203.0.113.66") as (
        owner,
        attacker,
    ):
        ada = await sign_up(owner, "ada@example.com", "correct horse")
        for n in range(30):
            guess = {"username": f"user{n}@example.com", "password": "not the password"}
            assert (await attacker.post("/api/auth/token", data=guess)).status_code == 401
        right = {"username": ada.email, "password": ada.password}
        assert (await attacker.post("/api/auth/token", data=right)).status_code == 429
        assert (await owner.post("/api/auth/token", data=right)).status_code == 200


async def test_profile_password_checks_are_throttled_and_count_toward_sign_in(
    client: Client, user: Account
) -> None:
    """With a stolen access token, guessing the current password through PUT /users/me is
    locked after 5 tries, like sign-in, and the lock holds for sign-in too."""
    codes = []
    for n in range(8):
        response = await client.put(
            "/api/users/me",
            json={"current_password": f"guess number {n}", "password": "taken over!"},
            headers=user.headers,
        )
        codes.append(response.status_code)
    assert codes == [401] * 5 + [429] * 3
    assert "try again later" in response.json()["detail"]
    assert int(response.headers["Retry-After"]) >= 1
    right = {"username": user.email, "password": user.password}
    assert (await client.post("/api/auth/token", data=right)).status_code == 429


async def test_account_deletion_password_checks_are_throttled(
    client: Client, user: Account
) -> None:
    codes = []
    for n in range(7):
        response = await client.request(
            "DELETE", "/api/users/me", json={"password": f"guess {n}!!"}, headers=user.headers
        )
        codes.append(response.status_code)
    assert codes == [401] * 5 + [429] * 2
    still_there = await client.get("/api/users/me", headers=user.headers)
    assert still_there.status_code == 200


async def test_an_email_change_needs_the_current_password(client: Client, user: Account) -> None:
    missing = await client.put(
        "/api/users/me", json={"email": "thief@example.com"}, headers=user.headers
    )
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "current_password"]
    wrong = await client.put(
        "/api/users/me",
        json={"email": "thief@example.com", "current_password": "not it at all"},
        headers=user.headers,
    )
    assert wrong.status_code == 401
    unchanged = await client.get("/api/users/me", headers=user.headers)
    assert unchanged.json()["email"] == user.email
    # The same email (any case) is no change and needs nothing; other fields neither.
    same = await client.put(
        "/api/users/me",
        json={"email": user.email.upper(), "display_name": "Ada"},
        headers=user.headers,
    )
    assert same.status_code == 200 and same.json()["display_name"] == "Ada"
