"""Deliberate damage, to show the verification catches what it claims to: each mode changes
the database directly (behind the server's back) the way a server bug would.

- ``delete-entry``: delete one entry row before the verification (a lost write);
- ``drop-metric``: take one metric out of the rollup counts (a lost metric);
- ``close-conflict``: mark one open conflict resolved (a conflict dropped silently);
- ``forge-delivery``: during the conflict probe, record that the phone was sent a revision it
  never received, so the server accepts its stale edit (a missed conflict).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import pool, text
from sqlalchemy.ext.asyncio import create_async_engine

from reflective_adapters.postgres.urls import to_async_url
from tests.load.driver import LoadRun, ProbeHook
from tests.load.model import Device, UserSim

BEFORE_VERIFY = ("delete-entry", "drop-metric", "close-conflict")
DURING_PROBE = ("forge-delivery",)
MODES = BEFORE_VERIFY + DURING_PROBE


class TamperFailed(RuntimeError):
    """Nothing was there to tamper with."""


async def execute(database_url: str, sql: str, **params: Any) -> int:
    engine = create_async_engine(to_async_url(database_url), poolclass=pool.NullPool)
    try:
        async with engine.begin() as connection:
            result = await connection.execute(text(sql), params)
            return int(result.rowcount)
    finally:
        await engine.dispose()


async def tamper(mode: str, database_url: str, run: LoadRun) -> str:
    """Apply a before-verification ``mode`` to the first user; returns what was done."""
    user = run.users[0]
    user_id = uuid.UUID(user.id)
    if mode == "delete-entry":
        entry_id = next(iter(user.hot), None) or next(iter(user.entries), None)
        if entry_id is None:
            raise TamperFailed("the first user has no entry")
        done = await execute(
            database_url,
            "DELETE FROM entries WHERE user_id = :u AND id = :e",
            u=user_id,
            e=uuid.UUID(entry_id),
        )
        writes = len(user.entries[entry_id].writes)
        what = f"deleted entry {entry_id} of user 0 ({writes} accepted writes)"
    elif mode == "drop-metric":
        # Every rollup row (whatever periods the schema keeps) of one metric type counts one
        # metric fewer: the aggregate over all time reads at least one of them.
        done = await execute(
            database_url,
            "UPDATE metric_rollups SET count = count - 1 WHERE user_id = :u AND metric_type = "
            "(SELECT min(metric_type) FROM metric_rollups WHERE user_id = :u)",
            u=user_id,
        )
        what = f"took one metric out of each of {done} rollup rows of one type of user 0"
        done = min(done, 1)
    elif mode == "close-conflict":
        done = await execute(
            database_url,
            "UPDATE conflicts SET resolved_at = now(), resolution = 'remote' "
            "WHERE user_id = :u AND id = (SELECT id FROM conflicts WHERE user_id = :u "
            "AND resolved_at IS NULL ORDER BY detected_at LIMIT 1)",
            u=user_id,
        )
        what = "closed user 0's oldest open conflict in the database"
    else:
        raise ValueError(f"not a before-verification tamper mode: {mode}")
    if done != 1:
        raise TamperFailed(f"{mode}: {done} rows changed")
    return what


def forge_delivery(database_url: str, only_user: int = 0) -> ProbeHook:
    """A probe hook: before the phone's stale edit, pretend it was sent the latest revision."""

    async def hook(user: UserSim, phone: Device, entry_id: str) -> None:
        if user.index != only_user:
            return
        done = await execute(
            database_url,
            "UPDATE deliveries SET revision = revision + 1000 "
            "WHERE user_id = :u AND device_id = :d AND entry_id = :e",
            u=uuid.UUID(user.id),
            d=phone.name,
            e=uuid.UUID(entry_id),
        )
        if done != 1:
            raise TamperFailed(f"forge-delivery: {done} rows changed")

    return hook
