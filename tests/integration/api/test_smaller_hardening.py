"""Password blocklist, security and cache headers, and no statement failing with an email bound
(PostgreSQL writes a failed statement's DETAIL, e.g. "Key (email)=(...) already exists", to its
own log)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from reflective_domain.accounts import common_passwords
from tests.integration.api.conftest import Account, Client, sign_up


@pytest.mark.parametrize("password", ["password", "Password1", "iloveyou", "QWERTYUIOP"])
async def test_common_passwords_are_refused(client: Client, user: Account, password: str) -> None:
    registered = await client.post(
        "/api/auth/register", json={"email": "new@example.com", "password": password}
    )
    assert registered.status_code == 422
    [problem] = registered.json()["detail"]
    assert problem["loc"] == ["body", "password"] and "common" in problem["msg"]
    changed = await client.put(
        "/api/users/me",
        json={"current_password": user.password, "password": password},
        headers=user.headers,
    )
    assert changed.status_code == 422


def test_the_blocklist_ships_with_the_package() -> None:
    blocked = common_passwords()
    assert len(blocked) > 5000
    assert "password" in blocked and all(len(p) >= 8 for p in blocked)


async def test_token_answers_are_not_stored_by_caches(client: Client, user: Account) -> None:
    login = await client.post(
        "/api/auth/token", data={"username": user.email, "password": user.password}
    )
    refreshed = await client.post(
        "/api/auth/refresh", json={"refresh_token": login.json()["refresh_token"]}
    )
    for response in (login, refreshed):
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"


async def test_security_headers_on_api_answers_errors_and_docs(client: Client) -> None:
    api = await client.get("/api/health")
    error = await client.get("/api/users/me")
    docs = await client.get("/docs")
    for response in (api, error, docs):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
    assert error.status_code == 401
    assert api.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert "frame-ancestors 'none'" in api.headers["Content-Security-Policy"]
    # The docs page keeps working: its scripts and styles come from this server only.
    assert docs.status_code == 200
    csp = docs.headers["Content-Security-Policy"]
    script_src = csp.split("script-src", 1)[1].split(";", 1)[0].split()
    assert script_src == ["'self'", "'unsafe-inline'"]
    assert "swagger-ui" in docs.text and "https://" not in csp
    assert (await client.get("/docs/openapi.json")).status_code == 200


@contextmanager
def failed_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    failures: list[str] = []

    def record(context: Any) -> None:
        failures.append(type(context.original_exception).__name__)

    event.listen(engine.sync_engine, "handle_error", record)
    try:
        yield failures
    finally:
        event.remove(engine.sync_engine, "handle_error", record)


async def test_no_statement_fails_with_an_email_bound(
    client: Client, user: Account, other_user: Account, pg_engine: AsyncEngine
) -> None:
    with failed_statements(pg_engine) as failures:
        again = await client.post(
            "/api/auth/register", json={"email": user.email, "password": "a new secret"}
        )
        taken = await client.put(
            "/api/users/me",
            json={"email": other_user.email, "current_password": user.password},
            headers=user.headers,
        )
        await sign_up(client, "third@example.com", "third secret")
    assert (again.status_code, taken.status_code) == (409, 409)
    assert taken.json() == {"detail": "Email already registered", "code": "email_taken"}
    assert failures == []
