"""PostgreSQL timeouts per connection: a request blocked behind another session's lock answers
503 with Retry-After once ``lock_timeout`` passes, and readiness says not ready. The answer's
time tells the lock timeout (300 ms here) from the statement and command timeouts (30 s and
60 s here): without ``lock_timeout`` the same requests would wait for the statement timeout."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
from dependency_injector import providers
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from reflective_app.container import Container
from reflective_app.main import create_app
from reflective_app.settings import Settings
from tests.integration.api.conftest import Client, fast_hasher, serve, set_tier, sign_up
from tests.integration.api.sync_client import entry_upload

UNAVAILABLE = {"detail": "Service temporarily unavailable", "code": "database_unavailable"}
# Far above the 300 ms lock timeout (room for a loaded 2-core machine), far below the 30 s
# statement timeout a request would otherwise fall through to.
WITHIN_LOCK_TIMEOUT = 5.0


def lock_timeout_only(settings: Settings) -> Settings:
    return replace(
        settings,
        db_lock_timeout_ms=300,
        db_statement_timeout_ms=30_000,
        db_command_timeout_seconds=60,
    )


async def timed(call: Awaitable[httpx.Response]) -> httpx.Response:
    """The response, after checking it came within the lock timeout's bound."""
    started = time.monotonic()
    response = await call
    took = time.monotonic() - started
    assert took < WITHIN_LOCK_TIMEOUT, f"{took:.1f} s: not the lock timeout that answered"
    return response


@asynccontextmanager
async def app_with_own_engine(settings: Settings) -> AsyncIterator[tuple[Client, Container]]:
    """The production wiring, engine included (built from the settings), on the test
    database."""
    container = Container()
    container.settings.override(providers.Object(settings))
    container.database_url.override(providers.Object(settings.database_url))
    container.hasher.override(providers.Singleton(fast_hasher))
    async with serve(create_app(container)) as client:
        yield client, container


@asynccontextmanager
async def holding_lock(engine: AsyncEngine, table: str) -> AsyncIterator[AsyncConnection]:
    """Another session holding an exclusive lock on ``table`` until the block ends."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        await connection.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
        try:
            yield connection
        finally:
            await transaction.rollback()


async def test_a_locked_users_table_answers_503_and_not_ready(
    api_settings: Settings, pg_engine: AsyncEngine, pg_clean: None
) -> None:
    async with app_with_own_engine(lock_timeout_only(api_settings)) as (client, _):
        ada = await sign_up(client)
        async with holding_lock(pg_engine, "users"):
            profile = await timed(client.get("/api/users/me", headers=ada.headers))
            ready = await timed(client.get("/api/health/ready"))
        assert profile.status_code == 503
        assert profile.json() == UNAVAILABLE
        assert int(profile.headers["Retry-After"]) >= 1
        assert ready.status_code == 503 and ready.json()["checks"]["database"] == "failed"
        # The lock gone, everything answers again.
        assert (await client.get("/api/users/me", headers=ada.headers)).status_code == 200
        assert (await client.get("/api/health/ready")).status_code == 200


async def test_a_locked_entries_table_answers_503(
    api_settings: Settings, pg_engine: AsyncEngine, pg_clean: None, he_vectors: dict[str, Any]
) -> None:
    async with app_with_own_engine(lock_timeout_only(api_settings)) as (client, _):
        ada = await sign_up(client)
        await set_tier(client, ada, "full_sync", he_vectors["public_key"])
        async with holding_lock(pg_engine, "entries"):
            pushed = await timed(
                client.post("/api/sync/backup", json=entry_upload(), headers=ada.headers)
            )
            listed = await timed(client.get("/api/sync/backups", headers=ada.headers))
        assert (pushed.status_code, listed.status_code) == (503, 503)
        assert pushed.json() == UNAVAILABLE and "Retry-After" in pushed.headers
        retried = await client.post("/api/sync/backup", json=entry_upload(), headers=ada.headers)
        assert retried.status_code == 201


async def test_every_timeout_is_set_on_each_connection(
    api_settings: Settings, pg_clean: None
) -> None:
    settings = replace(
        api_settings,
        db_statement_timeout_ms=12_345,
        db_lock_timeout_ms=2_345,
        db_idle_in_transaction_timeout_ms=34_567,
        db_command_timeout_seconds=77,
    )
    async with app_with_own_engine(settings) as (_, container):
        engine = await container.engine()
        async with engine.connect() as connection:
            shown = {
                name: (await connection.execute(text(f"SHOW {name}"))).scalar_one()
                for name in (
                    "statement_timeout",
                    "lock_timeout",
                    "idle_in_transaction_session_timeout",
                )
            }
            raw = await connection.get_raw_connection()
            command_timeout = raw.driver_connection._config.command_timeout  # type: ignore[union-attr]
    assert shown == {
        "statement_timeout": "12345ms",
        "lock_timeout": "2345ms",
        "idle_in_transaction_session_timeout": "34567ms",
    }
    assert command_timeout == 77
