"""The real server (``reflective serve``, a process of its own) SIGKILLed in the middle of a
metrics batch and of a conflict resolution, then started again: each write is wholly there or
wholly absent.

Each round kills the server once, with one batch and one resolution in flight, at a point
seen in ``pg_stat_activity`` rather than guessed from a clock (see ``ROUNDS``):

- the batch: while its INSERT of metric rows runs (some rows written); after every metric
  row, while the server sums ciphertexts in the open transaction; while its rollup write
  waits for a lock the test holds on the rollups table; with its COMMIT on the wire
  (committed, never answered); after its 201 (the control);
- the resolution: waiting on a row the test holds before it writes anything, after it bumped
  the user's change sequence, after it wrote the entry's new revision but before it closed
  the conflict; a few ms after it was sent; after its 200 (the control).

A lock held by the test only delays the server; what the server then does is its own. After
each kill the test waits until PostgreSQL has ended every transaction of the dead process,
starts the server again and checks through SQL and the API: metric count 0 or the whole batch,
day and month rollups equal to the metrics they cover, one current row per entry, revisions
1..n with the current one matching the stored version, the change sequence in step, and each
conflict resolved exactly when its entry advanced. A client's retry then succeeds.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from reflective_domain.entries import EntryVersion
from tests.integration.api.conftest import Account, set_tier, sign_up
from tests.integration.api.sync_client import entry_upload
from tests.integration.faults.conftest import (
    Backend,
    LiveServer,
    MetricsBatch,
    assert_metrics_whole,
    lock_rollup_writes,
    metrics_batch,
    stored_count,
    wait_for_backend,
    wait_until_no_backends,
)

pytestmark = pytest.mark.slow  # `pytest -m "not slow"` leaves it out

BATCH = 240  # ~106 MB of JSON: an INSERT of ~80 MB of ciphertexts, a fair time to die in
JSON = {"Content-Type": "application/json"}
RACE_SECONDS = 0.01  # a resolution takes a few ms end to end: killed somewhere near it
NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Round:
    name: str
    # When the batch is cut: "inserting" (metric rows being written), "summing" (every
    # metric row written, the server adding ciphertexts for the rollups), "rolling_up" (a
    # rollup write waits for the test's lock), "commit" (COMMIT seen, if the poll catches
    # it), "answered" (after its 201).
    batch_cut: str
    # Where the resolution is when the server dies: held by a row lock of the test at
    # "users" (before any write), "entries" (after the change_seq bump), "conflicts" (after
    # the new revision, before the conflict is closed); "racing" (sent a moment before the
    # kill); "answered" (after its 200).
    resolution: str
    metrics_expected: str  # "none" | "all" | "either"
    conflict_expected: str  # "open" | "resolved" | "either"


ROUNDS = (
    Round("batch inserting, resolution after change_seq", "inserting", "entries", "none", "open"),
    Round("batch summing, resolution after revision", "summing", "conflicts", "none", "open"),
    Round("batch rolling up, resolution before writing", "rolling_up", "users", "none", "open"),
    Round("batch committing, resolution racing", "commit", "racing", "either", "either"),
    Round("both answered", "answered", "answered", "all", "resolved"),
)

_HELD_QUERY = {
    "users": "FROM users",
    "entries": "INSERT INTO entries",
    "conflicts": "INSERT INTO conflicts",
}


@dataclass
class Story:
    """What the test knows was written before a round, to check the database against."""

    metrics_user: Account
    conflict_user: Account
    metrics: int = 0
    # conflict id -> (entry id, the content the entry had, the content "local" would write)
    conflicts: dict[str, tuple[str, bytes, bytes]] = field(default_factory=dict)


async def test_sigkill_mid_batch_and_mid_resolution_leaves_whole_writes(
    live_server: LiveServer, live_db: AsyncEngine, he_vectors: dict[str, Any]
) -> None:
    await live_server.start()
    async with _client(live_server) as client:
        story = Story(
            await sign_up(client, "metrics@example.com", "correct horse"),
            await sign_up(client, "conflicts@example.com", "correct horse"),
        )
        await set_tier(client, story.metrics_user, "analytics_sync", he_vectors["public_key"])
        await set_tier(client, story.conflict_user, "full_sync", he_vectors["public_key"])

    for round_ in ROUNDS:
        # A batch never sent before each round: a resent one would be recognised and skipped.
        await _kill_round(live_server, live_db, story, metrics_batch(he_vectors, BATCH), round_)

    assert "unhandled_error" not in live_server.log_tail(10**7), "a 500 in the server's log"


async def _kill_round(
    server: LiveServer, db: AsyncEngine, story: Story, batch: MetricsBatch, round_: Round
) -> None:
    async with _client(server) as client:
        conflict_id = await _open_conflict(client, story)
        holders: list[AsyncConnection] = []
        requests: list[asyncio.Task[httpx.Response]] = []
        try:
            resolve, upload = await _in_flight(
                client, db, story, batch, round_, conflict_id, holders, requests
            )
            server.kill()
        except BaseException:
            server.kill()
            for request in requests:
                request.cancel()
            raise
        finally:
            for holder in holders:  # the dead server's blocked backends run on, then find it gone
                await holder.close()
        answered_batch = await _answer(upload)
        answered_resolve = await _answer(resolve)
    await wait_until_no_backends(db)
    await server.start()

    # The batch: all or nothing; the rollups agree with whatever is there.
    allowed = {
        "none": {story.metrics},
        "all": {story.metrics + batch.size},
        "either": {story.metrics, story.metrics + batch.size},
    }[round_.metrics_expected]
    if answered_batch == 201:
        allowed = {story.metrics + batch.size}  # answered 201 is a promise kept
    story.metrics = await assert_metrics_whole(db, story.metrics_user.id, allowed)

    # The resolution: one current version per entry, revisions consistent, the conflict
    # resolved exactly when the entry advanced.
    states = await _check_entries(db, story)
    if answered_resolve == 200:
        assert states[conflict_id] == "resolved", round_.name
    elif round_.conflict_expected != "either":
        assert states[conflict_id] == round_.conflict_expected, (round_.name, states)

    async with _client(server) as client:
        await _check_through_the_api(client, db, story, states)
        if states[conflict_id] == "open":  # the client's retry after the crash succeeds
            retried = await _resolve(client, story, conflict_id)
            assert retried.status_code == 200, retried.text
            assert (await _check_entries(db, story))[conflict_id] == "resolved"


# --- one round --------------------------------------------------------------------------


async def _in_flight(
    client: httpx.AsyncClient,
    db: AsyncEngine,
    story: Story,
    batch: MetricsBatch,
    round_: Round,
    conflict_id: str,
    holders: list[AsyncConnection],
    requests: list[asyncio.Task[httpx.Response]],
) -> tuple[asyncio.Task[httpx.Response], asyncio.Task[httpx.Response]]:
    """Start the resolution and the batch; return once both are where the round kills.
    Row locks taken go to ``holders``, requests started to ``requests``."""
    entry_id = story.conflicts[conflict_id][0]
    held = round_.resolution in _HELD_QUERY
    if held:
        holders.append(await _hold_row(db, round_.resolution, story, entry_id, conflict_id))
    if round_.batch_cut == "rolling_up":
        holders.append(await lock_rollup_writes(db))

    resolve: asyncio.Task[httpx.Response] | None = None
    if round_.resolution != "racing":
        resolve = asyncio.create_task(_resolve(client, story, conflict_id))
        requests.append(resolve)
    if held:
        assert resolve is not None
        needle = _HELD_QUERY[round_.resolution]
        seen_held = await wait_for_backend(
            db, lambda b: b.waiting_on_lock and needle in b.query, timeout=30, unless_done=resolve
        )
        assert seen_held is not None, f"the resolution never waited at {round_.resolution}"
    elif resolve is not None:
        assert (await resolve).status_code == 200

    upload = asyncio.create_task(
        client.post(
            "/api/encryption/metrics",
            content=batch.body,
            headers={**story.metrics_user.headers, **JSON},
        )
    )
    requests.append(upload)
    if round_.batch_cut == "answered":
        assert (await upload).status_code == 201
    else:
        seen = await wait_for_backend(
            db, _CUT_WHEN[round_.batch_cut], timeout=60, unless_done=upload
        )
        if round_.batch_cut != "commit":
            assert seen is not None, f"the batch was never seen {round_.batch_cut}"
    if resolve is None:  # racing: on its way through the server when it dies
        resolve = asyncio.create_task(_resolve(client, story, conflict_id))
        requests.append(resolve)
        await asyncio.sleep(RACE_SECONDS)
    return resolve, upload


def _writing_metrics(b: Backend) -> bool:
    return b.has_written and b.query.startswith("INSERT INTO metrics")


_CUT_WHEN: dict[str, Callable[[Backend], bool]] = {
    # Some metric rows written (the transaction has an id), the INSERT still running.
    "inserting": lambda b: _writing_metrics(b) and b.state == "active",
    # The INSERT done, the transaction open and idle while the server sums ciphertexts.
    "summing": lambda b: _writing_metrics(b) and b.state == "idle in transaction",
    # Every metric row written; a rollup upsert waits for the test's lock on the table.
    "rolling_up": lambda b: b.waiting_on_lock and "INSERT INTO metric_rollups" in b.query,
    # COMMIT on its way (a window of a few ms: the poll may miss it).
    "commit": lambda b: b.has_written and b.query.strip().rstrip(";").upper() == "COMMIT",
}


async def _hold_row(
    db: AsyncEngine, table: str, story: Story, entry_id: str, conflict_id: str
) -> AsyncConnection:
    """An open transaction holding one row the resolution must lock or update."""
    statement = {
        "users": "SELECT 1 FROM users WHERE id = :u FOR UPDATE",
        "entries": "SELECT 1 FROM entries WHERE user_id = :u AND id = :e FOR UPDATE",
        "conflicts": "SELECT 1 FROM conflicts WHERE user_id = :u AND id = :c FOR UPDATE",
    }[table]
    holder = await db.connect()
    await holder.begin()
    found = await holder.execute(
        text(statement), {"u": story.conflict_user.id, "e": entry_id, "c": conflict_id}
    )
    assert found.first() is not None
    return holder


async def _answer(task: asyncio.Task[httpx.Response]) -> int | None:
    """The status the client got, or None when the connection died under it."""
    try:
        return (await asyncio.wait_for(task, 30)).status_code
    except httpx.TransportError:
        return None


# --- conflicts --------------------------------------------------------------------------


async def _open_conflict(client: httpx.AsyncClient, story: Story) -> str:
    """An entry from the laptop, then the phone's edit of it, unseen: an open conflict."""
    entry_id = str(uuid.uuid4())
    mine = entry_upload(entry_id, device="laptop")
    created = await client.post("/api/sync/backup", json=mine, headers=story.conflict_user.headers)
    assert created.status_code == 201, created.text
    theirs = entry_upload(entry_id, device="phone")
    clash = await client.post("/api/sync/backup", json=theirs, headers=story.conflict_user.headers)
    assert clash.status_code == 409, clash.text
    conflict_id = str(clash.json()["detail"]["conflict_id"])
    story.conflicts[conflict_id] = (
        entry_id,
        base64.b64decode(mine["encrypted_content"]),
        base64.b64decode(theirs["encrypted_content"]),
    )
    return conflict_id


async def _resolve(client: httpx.AsyncClient, story: Story, conflict_id: str) -> httpx.Response:
    return await client.post(
        f"/api/sync/conflicts/{conflict_id}/resolve",
        json={"chosen_version": "local"},
        headers=story.conflict_user.headers,
    )


def _fingerprint(content: bytes, iv: bytes) -> bytes:
    return EntryVersion(content, iv, None, NOW, NOW, "device").fingerprint


async def _check_entries(db: AsyncEngine, story: Story) -> dict[str, str]:
    """Every invariant of the conflict user's entries; each conflict's state, by id."""
    user = story.conflict_user.id
    async with db.connect() as connection:
        entries = {
            str(r.id): r
            for r in await connection.execute(
                text(
                    "SELECT id, revision, change_seq, content, iv FROM entries WHERE user_id = :u"
                ),
                {"u": user},
            )
        }
        copies = (
            await connection.execute(
                text("SELECT count(*) - count(DISTINCT id) FROM entries WHERE user_id = :u"),
                {"u": user},
            )
        ).scalar_one()
        revisions: dict[str, dict[int, bytes]] = {}
        for r in await connection.execute(
            text("SELECT entry_id, revision, fingerprint FROM entry_revisions WHERE user_id = :u"),
            {"u": user},
        ):
            by_revision = revisions.setdefault(str(r.entry_id), {})
            assert r.revision not in by_revision, "two versions recorded as one revision"
            by_revision[r.revision] = bytes(r.fingerprint)
        conflicts = {
            str(r.id): r
            for r in await connection.execute(
                text(
                    "SELECT id, entry_id, resolved_at, resolution FROM conflicts WHERE user_id = :u"
                ),
                {"u": user},
            )
        }
        change_seq = (
            await connection.execute(
                text("SELECT change_seq FROM users WHERE id = :u"), {"u": user}
            )
        ).scalar_one()

    assert copies == 0, "an entry with more than one current row"
    assert set(entries) == {entry for entry, _, _ in story.conflicts.values()}
    # The user's change sequence never runs ahead of the entries it numbers: a bump whose
    # write died with the server was rolled back with it.
    assert change_seq == max(e.change_seq for e in entries.values())
    for entry_id, entry in entries.items():
        recorded = revisions.get(entry_id, {})
        # Revisions 1..current, the current one being the stored version.
        assert sorted(recorded) == list(range(1, entry.revision + 1)), (entry_id, recorded)
        assert recorded[entry.revision] == _fingerprint(bytes(entry.content), bytes(entry.iv))

    states = {}
    for conflict_id, (entry_id, original, local) in story.conflicts.items():
        conflict, entry = conflicts[conflict_id], entries[entry_id]
        assert str(conflict.entry_id) == entry_id
        if conflict.resolved_at is None:
            assert entry.revision == 1 and bytes(entry.content) == original, "advanced, still open"
            states[conflict_id] = "open"
        else:
            assert conflict.resolution == "local"
            assert entry.revision == 2 and bytes(entry.content) == local, "resolved, not advanced"
            states[conflict_id] = "resolved"
    return states


async def _check_through_the_api(
    client: httpx.AsyncClient, db: AsyncEngine, story: Story, states: dict[str, str]
) -> None:
    """The restarted server tells the same story as the tables."""
    listed = await client.get("/api/sync/conflicts", headers=story.conflict_user.headers)
    assert listed.status_code == 200, listed.text
    open_ids = {c["id"] for c in listed.json()["conflicts"]}
    assert open_ids == {cid for cid, state in states.items() if state == "open"}
    total = await client.post(
        "/api/encryption/aggregate",
        json={"metric_type": "word_count", "operation": "sum"},
        headers=story.metrics_user.headers,
    )
    word_counts = await stored_count(db, story.metrics_user.id, "word_count")
    if word_counts == 0:
        assert total.status_code == 404, total.text
    else:
        assert total.status_code == 200, total.text
        assert total.json()["count"] == word_counts


@contextlib.asynccontextmanager
async def _client(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60.0) as client:
        yield client
