"""Admission control: past the worker's limit of requests in progress, a request waits at
most the configured time for its turn, then is answered 503 with Retry-After (never a 500,
never a long queue); health checks are never held back; the held request completes."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from reflective_app.errors import UNAVAILABLE
from tests.integration.api.conftest import set_tier, sign_up
from tests.integration.api.sync_client import entry_upload


async def test_a_request_beyond_the_limit_is_answered_503_with_retry_after(
    app_with: Any, pg_engine: AsyncEngine, he_vectors: dict[str, Any]
) -> None:
    async with app_with(admission_limit=1, admission_wait_seconds=0.05) as client:
        account = await sign_up(client)
        await set_tier(client, account, "full_sync", he_vectors["public_key"])
        # Hold the user's row lock, so the next upload stays in progress.
        async with pg_engine.connect() as holder:
            await holder.execute(
                text("SELECT id FROM users WHERE email = :e FOR UPDATE"), {"e": account.email}
            )
            held = asyncio.create_task(
                client.post("/api/sync/backup", json=entry_upload(), headers=account.headers)
            )
            while not await _waiting_for_a_lock(pg_engine):
                await asyncio.sleep(0.01)
            busy = await client.get("/api/users/me", headers=account.headers)
            assert busy.status_code == 503, busy.text
            assert busy.json() == {"detail": UNAVAILABLE, "code": "overloaded"}
            assert busy.headers["retry-after"] == "1"
            assert (await client.get("/api/health")).status_code == 200
            await holder.rollback()
        assert (await held).status_code == 201
        assert (await client.get("/api/users/me", headers=account.headers)).status_code == 200


async def _waiting_for_a_lock(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        waiting = await connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            )
        )
        return int(waiting.scalar_one()) > 0
