"""Live sync in one process over real HTTP (uvicorn on a port, real PostgreSQL, the
database's NOTIFY through the app's listening connection): what the stream announces, to
whom, tickets, Last-Event-ID, the stream cap; sessions; devices."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from dependency_injector import providers
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from reflective_adapters.postgres.engine import make_engine
from reflective_adapters.postgres.live import PgStreamSlots
from reflective_app.main import create_app
from reflective_app.settings import Settings
from reflective_client.crypto.he import CkksKeys
from reflective_domain.he_params import CkksParameters
from tests.fakes import FakeClock
from tests.integration.api.conftest import (
    Account,
    b64,
    bearer,
    make_container,
    set_tier,
    sign_up,
)
from tests.integration.api.he_client import metric_payload
from tests.integration.api.sync_client import entry_upload
from tests.integration.hot_path.statements import counting_statements
from tests.integration.sse import open_events, refused_events

PACKED_PARAMS = CkksParameters(8192, (60, 40, 40, 60), 2.0**40)  # as the server announces


@dataclass
class Live:
    client: httpx.AsyncClient
    clock: FakeClock


@asynccontextmanager
async def http_server(
    settings: Settings, engine: AsyncEngine, clock: FakeClock
) -> AsyncIterator[httpx.AsyncClient]:
    """The app under uvicorn on a free port of this machine, in this event loop."""
    container = make_container(settings, engine)
    container.clock.override(providers.Object(clock))
    app = create_app(container)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="on", log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


def now_clock() -> FakeClock:
    # Access tokens are checked against the real time, so the fake clock starts now.
    return FakeClock(datetime.now(UTC))


@pytest.fixture
def live_with(
    api_settings: Settings, pg_engine: AsyncEngine, pg_clean: None
) -> Callable[..., AbstractAsyncContextManager[Live]]:
    @asynccontextmanager
    async def build(**changes: Any) -> AsyncIterator[Live]:
        clock = now_clock()
        settings = replace(api_settings, **changes)
        async with http_server(settings, pg_engine, clock) as client:
            yield Live(client, clock)

    return build


@pytest.fixture
async def live(live_with: Callable[..., AbstractAsyncContextManager[Live]]) -> AsyncIterator[Live]:
    async with live_with() as server:
        yield server


async def account(
    client: httpx.AsyncClient,
    email: str,
    he_vectors: dict[str, Any] | None = None,
    device_name: str | None = None,
) -> Account:
    password = "correct horse"
    created = await client.post("/api/auth/register", json={"email": email, "password": password})
    assert created.status_code == 201, created.text
    form = {"username": email, "password": password}
    if device_name is not None:
        form["device_name"] = device_name
    login = await client.post("/api/auth/token", data=form)
    assert login.status_code == 200, login.text
    user = Account(email, password, login.json(), created.json())
    if he_vectors is not None:
        await set_tier(client, user, "full_sync", he_vectors["public_key"])
    return user


async def push(client: httpx.AsyncClient, user: Account, device: str = "laptop") -> int:
    """Write one new entry; the cursor /sync/changes then ends at."""
    stored = await client.post(
        "/api/sync/backup", json=entry_upload(device=device), headers=user.headers
    )
    assert stored.status_code == 201, stored.text
    changes = await client.get("/api/sync/changes", headers=user.headers)
    return int(changes.json()["next_cursor"])


# --- the stream -------------------------------------------------------------------------


async def test_a_write_is_announced_with_the_change_feed_cursor(
    live: Live, he_vectors: dict[str, Any]
) -> None:
    ada = await account(live.client, "ada@example.com", he_vectors)
    async with open_events(live.client, headers=ada.headers) as stream:
        cursor = await push(live.client, ada)
        event = await stream.next_event()
    assert event.json() == {"cursor": str(cursor), "kinds": ["entries"]}
    assert event.id == str(cursor)  # EventSource resumes from it (Last-Event-ID)


async def test_another_users_write_never_reaches_the_stream(
    live: Live, he_vectors: dict[str, Any], pg_engine: AsyncEngine
) -> None:
    ada = await account(live.client, "ada@example.com", he_vectors)
    bob = await account(live.client, "bob@example.com", he_vectors)
    async with pg_engine.begin() as connection:  # Bob's cursors can't be mistaken for Ada's
        await connection.execute(
            text("UPDATE users SET change_seq = 100 WHERE id = :id"), {"id": bob.id}
        )
    async with open_events(live.client, headers=ada.headers) as stream:
        for _ in range(3):
            assert await push(live.client, bob) > 100
        mine = await push(live.client, ada)
        # Notifications arrive in commit order (and a stream keeps the highest cursor): had
        # Bob's reached Ada's stream, the first event would carry one of his cursors.
        event = await stream.next_event()
    assert mine == 1
    assert event.json() == {"cursor": "1", "kinds": ["entries"]}


async def test_a_rolled_back_write_notifies_nobody(
    live: Live, he_vectors: dict[str, Any], pg_engine: AsyncEngine
) -> None:
    ada = await account(live.client, "ada@example.com", he_vectors)
    async with open_events(live.client, headers=ada.headers) as stream:
        async with pg_engine.connect() as connection:
            transaction = await connection.begin()
            await connection.execute(
                text("UPDATE users SET change_seq = 999 WHERE id = :id"), {"id": ada.id}
            )
            await transaction.rollback()
        cursor = await push(live.client, ada)
        event = await stream.next_event()
    assert cursor == 1
    assert event.json() == {"cursor": "1", "kinds": ["entries"]}  # never 999


async def test_conflicts_and_deletes_are_announced(live: Live, he_vectors: dict[str, Any]) -> None:
    ada = await account(live.client, "ada@example.com", he_vectors)
    entry = entry_upload(device="laptop")
    async with open_events(live.client, headers=ada.headers) as stream:
        stored = await live.client.post("/api/sync/backup", json=entry, headers=ada.headers)
        assert stored.is_success
        written = await stream.next_event()
        assert written.json() == {"cursor": "1", "kinds": ["entries"]}
        clash = {**entry, "encrypted_content": b64(b"other"), "device_id": "phone"}
        answer = await live.client.post("/api/sync/backup", json=clash, headers=ada.headers)
        assert answer.status_code == 409
        opened = await stream.next_event()
        assert opened.json() == {"cursor": "1", "kinds": ["conflicts"]}
        deleted = await live.client.delete(f"/api/sync/backup/{entry['id']}", headers=ada.headers)
        assert deleted.status_code == 200, deleted.text
        after_delete = await stream.next_event()
    assert after_delete.json()["cursor"] == "2"
    assert "entries" in after_delete.json()["kinds"]


async def test_metrics_changes_are_announced(live: Live, he_vectors: dict[str, Any]) -> None:
    ada = await account(live.client, "ada@example.com", he_vectors)
    async with open_events(live.client, headers=ada.headers) as stream:
        body = {"metrics": [metric_payload(m, log_id="e1") for m in he_vectors["metrics"]]}
        uploaded = await live.client.post("/api/encryption/metrics", json=body, headers=ada.headers)
        assert uploaded.status_code == 201, uploaded.text
        assert (await stream.next_event()).json() == {"kind": "metrics"}
        deleted = await live.client.delete("/api/sync/metrics/all", headers=ada.headers)
        assert deleted.status_code == 200
        assert (await stream.next_event()).json() == {"kind": "metrics"}


async def test_a_bulk_delete_is_announced_at_the_cursor_the_feed_then_ends(
    live: Live, he_vectors: dict[str, Any]
) -> None:
    ada = await account(live.client, "ada@example.com", he_vectors)
    before = await push(live.client, ada)
    async with open_events(live.client, headers=ada.headers) as stream:
        wiped = await live.client.delete("/api/sync/backup/content", headers=ada.headers)
        assert wiped.status_code == 200, wiped.text
        event = await stream.next_event()
    assert event.json() == {"cursor": str(before + 1), "kinds": ["entries"]}
    # No tombstones are left, yet a device pulling from where it was reaches that cursor.
    pulled = await live.client.get(
        "/api/sync/changes", params={"cursor": str(before)}, headers=ada.headers
    )
    assert pulled.json() == {"changes": [], "next_cursor": str(before + 1), "has_more": False}


async def test_packed_metrics_changes_are_announced(live: Live, he_vectors: dict[str, Any]) -> None:
    keys = CkksKeys.generate(PACKED_PARAMS)
    ada = await account(live.client, "ada@example.com")
    await set_tier(live.client, ada, "analytics_sync", b64(keys.public_key_bytes))
    async with open_events(live.client, headers=ada.headers) as stream:
        for _ in range(2):  # a new year, then another upload added to it
            ciphertext = b64(keys.encrypt_slots([1.0]))  # fresh: a resent one changes nothing
            packed = {"packed": [{"metric_type": "mood", "year": 2026, "ciphertext": ciphertext}]}
            uploaded = await live.client.post(
                "/api/encryption/packed-metrics", json=packed, headers=ada.headers
            )
            assert uploaded.status_code == 201, uploaded.text
            assert (await stream.next_event()).json() == {"kind": "metrics"}
        # The user has packed metrics only: deleting every metric is still a change.
        deleted = await live.client.delete("/api/sync/metrics/all", headers=ada.headers)
        assert deleted.status_code == 200, deleted.text
        assert (await stream.next_event()).json() == {"kind": "metrics"}


@pytest.mark.parametrize(
    "last_event_id",
    [b"9" * 4301, b"9" * 19, b"\xb2", b"\xb9\xb2", b"-1", b"1.5", b"abc"],
    ids=[
        "4301-digits",
        "19-digits",
        "superscript-2",
        "two-latin-1-digits",
        "negative",
        "decimal",
        "letters",
    ],
)
async def test_a_last_event_id_that_is_not_a_cursor_is_refused_as_the_feed_does(
    live: Live, he_vectors: dict[str, Any], last_event_id: bytes
) -> None:
    ada = await account(live.client, "ada@example.com", he_vectors)
    headers = {"Authorization": ada.headers["Authorization"]}
    answer = await refused_events(live.client, headers={**headers, "Last-Event-ID": last_event_id})
    assert answer.status_code == 410, answer.text
    assert answer.json()["code"] == "resync_required"
    # The same value as the change feed's cursor (as the server decodes the header) gets
    # the same answer.
    feed = await live.client.get(
        "/api/sync/changes",
        params={"cursor": last_event_id.decode("latin-1")},
        headers=ada.headers,
    )
    assert (feed.status_code, feed.json()) == (410, answer.json())
    # An empty Last-Event-ID is no id at all (EventSource sends none before its first).
    async with open_events(live.client, headers={**headers, "Last-Event-ID": ""}):
        pass


async def test_the_listener_connects_to_listen_database_url(
    live_with: Callable[..., AbstractAsyncContextManager[Live]],
    pg_database_factory: Callable[[str], Awaitable[str]],
) -> None:
    # Behind a transaction-mode PgBouncer, LISTEN needs a connection of its own to PostgreSQL.
    # Here that URL names another database: only a listener connected there hears what is
    # notified there (NOTIFY reaches one database's listeners).
    elsewhere = await pg_database_factory("listen")
    async with live_with(listen_database_url=elsewhere) as server:
        ada = await account(server.client, "ada@example.com")
        async with open_events(server.client, headers=ada.headers) as stream:
            notifier = make_engine(elsewhere, pool_size=1, max_overflow=0)
            try:
                async with notifier.begin() as connection:
                    await connection.execute(
                        text("SELECT pg_notify('reflective_changes', :payload)"),
                        {"payload": f"{ada.id}:7"},
                    )
            finally:
                await notifier.dispose()
            event = await stream.next_event()
    assert event.json() == {"cursor": "7", "kinds": ["entries"]}


async def test_last_event_id_resumes(live: Live, he_vectors: dict[str, Any]) -> None:
    ada = await account(live.client, "ada@example.com", he_vectors)
    async with open_events(live.client, headers=ada.headers) as warm:
        await push(live.client, ada)
        latest = await push(live.client, ada)
        # Once this stream has heard the last write, no notification of these two is still
        # on its way to a stream opened below.
        while (await warm.next_event()).json()["cursor"] != str(latest):
            pass
    behind = {**ada.headers, "Last-Event-ID": str(latest - 1)}
    async with open_events(live.client, headers=behind) as stream:
        event = await stream.next_event()  # at once: a change since that id
    assert event.json() == {"cursor": str(latest), "kinds": ["entries"]}
    current = {**ada.headers, "Last-Event-ID": str(latest)}
    async with open_events(live.client, headers=current) as stream:
        newer = await push(live.client, ada)
        event = await stream.next_event()  # nothing was owed: the first is the new write
    assert event.json() == {"cursor": str(newer), "kinds": ["entries"]}


async def test_heartbeat_comments_keep_an_idle_stream_open(
    live_with: Callable[..., AbstractAsyncContextManager[Live]],
) -> None:
    async with live_with(events_heartbeat_seconds=0.05) as server:
        ada = await account(server.client, "ada@example.com")
        async with open_events(server.client, headers=ada.headers) as stream:
            block = await stream.next_block()
    assert block is not None and block.comments == ["heartbeat"] and block.data is None


async def test_the_stream_needs_a_token_or_ticket(live: Live) -> None:
    answer = await refused_events(live.client)
    assert answer.status_code == 401
    assert isinstance(answer.json()["detail"], str)
    bad = await refused_events(live.client, headers=bearer("not-a-token"))
    assert bad.status_code == 401


async def test_a_token_a_password_change_ended_opens_no_stream(
    live: Live, he_vectors: dict[str, Any]
) -> None:
    ada = await account(live.client, "ada@example.com", he_vectors)
    stale = ada.headers
    live.clock.advance(seconds=1)  # the change ends tokens issued before its own time
    changed = await live.client.put(
        "/api/users/me",
        json={"current_password": ada.password, "password": "a brand new secret"},
        headers=stale,
    )
    assert changed.status_code == 200, changed.text
    refused = await refused_events(live.client, headers=stale)
    assert refused.status_code == 401
    assert refused.json()["code"] == "not_authenticated"
    # Nor with a ticket asked for with it.
    ticket = await live.client.post("/api/sync/events/ticket", headers=stale)
    assert ticket.status_code == 401


async def test_streams_per_user_are_capped(
    live_with: Callable[..., AbstractAsyncContextManager[Live]],
) -> None:
    async with live_with(max_event_streams_per_user=2) as server:
        ada = await account(server.client, "ada@example.com")
        bob = await account(server.client, "bob@example.com")
        async with contextlib.AsyncExitStack() as streams:
            for _ in range(2):
                await streams.enter_async_context(open_events(server.client, headers=ada.headers))
            refused = await refused_events(server.client, headers=ada.headers)
            assert refused.status_code == 429
            assert "at most 2" in refused.json()["detail"]
            # The cap is per user: another account still connects.
            async with open_events(server.client, headers=bob.headers):
                pass
        # Closed streams give their places back (once the server has seen them end).
        await opens_soon(server.client, ada)


async def opens_soon(client: httpx.AsyncClient, user: Account) -> None:
    for _attempt in range(50):
        async with client.stream("GET", "/api/sync/events", headers=user.headers) as response:
            if response.status_code == 200:
                return
            assert response.status_code == 429
        await asyncio.sleep(0.1)
    raise AssertionError("a closed stream's slot was never freed")


async def test_claims_of_one_user_wait_for_each_other(
    client: httpx.AsyncClient, pg_engine: AsyncEngine
) -> None:
    """Another worker's claim, not yet committed, holds the user's lock: a concurrent claim
    waits for it and then counts its slot (without the lock it would take the last slot too)."""
    ada = uuid.UUID((await sign_up(client)).id)
    slots = PgStreamSlots(pg_engine)
    now = datetime.now(UTC)
    stale_before = now - timedelta(minutes=1)
    async with pg_engine.connect() as other:
        await other.begin()
        assert await slots.claim_in(other, ada, "other-worker", 1, now, stale_before)
        # As the route claims: with the access token's check (the same read takes the lock).
        racing = asyncio.create_task(
            slots.claim(ada, "this-worker", 1, now, stale_before, token_issued_at=now)
        )
        await asyncio.sleep(0.5)
        assert not racing.done()  # waits for the other claim's transaction
        await other.commit()
    assert await asyncio.wait_for(racing, 10) is None  # full: the other claim counted
    async with pg_engine.connect() as connection:
        count = await connection.scalar(
            text("SELECT count(*) FROM event_streams WHERE user_id = :uid"), {"uid": ada}
        )
    assert count == 1


async def test_opening_a_stream_costs_one_transaction_of_two_statements(
    live: Live, pg_engine: AsyncEngine
) -> None:
    """The token's check (or the ticket's redemption) takes the user's claim lock in the same
    read; the claim is the one statement more. Ending the stream frees the slot."""
    ada = await account(live.client, "ada@example.com")
    ticket = (await live.client.post("/api/sync/events/ticket", headers=ada.headers)).json()
    for how in ({"headers": ada.headers}, {"params": {"ticket": ticket["ticket"]}}):
        with counting_statements(pg_engine) as log:
            async with open_events(live.client, **how):
                opened = list(log.statements)
        control = ("BEGIN", "COMMIT", "")
        work = [s for s in opened if s.split()[0].rstrip(";").upper() not in control]
        assert sum(1 for s in opened if s.upper().startswith("BEGIN")) == 1, log.describe()
        assert len(work) == 2, log.describe()
        assert "pg_advisory_xact_lock" in work[0] and "INSERT INTO event_streams" in work[1]
        await no_slots_left(pg_engine)  # the ended stream's slot is freed


async def no_slots_left(engine: AsyncEngine) -> None:
    for _attempt in range(50):
        async with engine.connect() as connection:
            if not await connection.scalar(text("SELECT count(*) FROM event_streams")):
                return
        await asyncio.sleep(0.1)
    raise AssertionError("an ended stream's slot was never freed")


async def test_open_streams_take_no_admission_slot(
    live_with: Callable[..., AbstractAsyncContextManager[Live]],
) -> None:
    # A stream lasts as long as the device stays online: were it counted as a request in
    # flight, ADMISSION_LIMIT idle streams would shut every other request out with 503.
    async with live_with(admission_limit=2, admission_wait_seconds=0.2) as server:
        ada = await account(server.client, "ada@example.com")
        async with contextlib.AsyncExitStack() as streams:
            for _ in range(3):
                await streams.enter_async_context(open_events(server.client, headers=ada.headers))
            profile = await server.client.get("/api/users/me", headers=ada.headers)
            assert profile.status_code == 200, profile.text


# --- tickets ----------------------------------------------------------------------------


async def ticket_for(client: httpx.AsyncClient, user: Account) -> str:
    issued = await client.post("/api/sync/events/ticket", headers=user.headers)
    assert issued.status_code == 201, issued.text
    assert issued.json()["expires_in"] == 60
    ticket: str = issued.json()["ticket"]
    return ticket


async def test_a_ticket_opens_the_stream_once(live: Live, he_vectors: dict[str, Any]) -> None:
    ada = await account(live.client, "ada@example.com", he_vectors)
    ticket = await ticket_for(live.client, ada)
    async with open_events(live.client, params={"ticket": ticket}) as stream:
        cursor = await push(live.client, ada)
        assert (await stream.next_event()).json()["cursor"] == str(cursor)
    again = await refused_events(live.client, params={"ticket": ticket})
    assert again.status_code == 401
    assert again.json()["detail"] == "Invalid or expired ticket"


async def test_a_ticket_expires_after_60_seconds(live: Live) -> None:
    ada = await account(live.client, "ada@example.com")
    ticket = await ticket_for(live.client, ada)
    live.clock.advance(seconds=60)
    expired = await refused_events(live.client, params={"ticket": ticket})
    assert expired.status_code == 401
    fresh = await ticket_for(live.client, ada)
    live.clock.advance(seconds=59)
    async with open_events(live.client, params={"ticket": fresh}):
        pass


async def test_tickets_are_stored_hashed(live: Live, pg_engine: AsyncEngine) -> None:
    ada = await account(live.client, "ada@example.com")
    ticket = await ticket_for(live.client, ada)
    async with pg_engine.connect() as connection:
        stored = (await connection.execute(text("SELECT token_hash FROM event_tickets"))).all()
    assert len(stored) == 1
    assert ticket.encode() not in bytes(stored[0][0])


async def test_a_ticket_needs_a_token(live: Live) -> None:
    assert (await live.client.post("/api/sync/events/ticket")).status_code == 401


# --- sessions ---------------------------------------------------------------------------


async def test_sessions_list_marks_the_current_one_and_ending_one_refuses_its_refresh(
    live: Live,
) -> None:
    ada = await account(live.client, "ada@example.com", device_name="Ada's laptop")
    phone = await live.client.post(
        "/api/auth/token",
        data={"username": ada.email, "password": ada.password},
        headers={"User-Agent": "ReflectivePhone/1.0"},
    )
    assert phone.status_code == 200
    listed = await live.client.get("/api/auth/sessions", headers=ada.headers)
    assert listed.status_code == 200, listed.text
    sessions = listed.json()["sessions"]
    assert listed.json()["total_count"] == 2
    names = {s["device_name"]: s for s in sessions}
    assert set(names) == {"Ada's laptop", "ReflectivePhone/1.0"}
    assert names["Ada's laptop"]["current"] is True
    assert names["ReflectivePhone/1.0"]["current"] is False

    ended = await live.client.delete(
        f"/api/auth/sessions/{names['ReflectivePhone/1.0']['id']}", headers=ada.headers
    )
    assert ended.status_code == 204
    refused = await live.client.post(
        "/api/auth/refresh", json={"refresh_token": phone.json()["refresh_token"]}
    )
    assert refused.status_code == 401
    left = (await live.client.get("/api/auth/sessions", headers=ada.headers)).json()
    assert [s["device_name"] for s in left["sessions"]] == ["Ada's laptop"]
    # The laptop's session goes on, through rotation, under the same id and name.
    rotated = await live.client.post(
        "/api/auth/refresh", json={"refresh_token": ada.tokens["refresh_token"]}
    )
    assert rotated.status_code == 200
    after = await live.client.get(
        "/api/auth/sessions", headers=bearer(rotated.json()["access_token"])
    )
    assert [(s["id"], s["current"]) for s in after.json()["sessions"]] == [
        (names["Ada's laptop"]["id"], True)
    ]


async def test_sessions_are_the_users_own(live: Live) -> None:
    ada = await account(live.client, "ada@example.com")
    bob = await account(live.client, "bob@example.com")
    adas = (await live.client.get("/api/auth/sessions", headers=ada.headers)).json()["sessions"]
    bobs = (await live.client.get("/api/auth/sessions", headers=bob.headers)).json()["sessions"]
    assert len(adas) == 1 and len(bobs) == 1 and adas[0]["id"] != bobs[0]["id"]
    stolen = await live.client.delete(f"/api/auth/sessions/{adas[0]['id']}", headers=bob.headers)
    assert stolen.status_code == 404
    assert isinstance(stolen.json()["detail"], str)
    unknown = await live.client.delete(f"/api/auth/sessions/{uuid.uuid4()}", headers=bob.headers)
    assert unknown.status_code == 404
    # Ada's session is untouched.
    still = await live.client.post(
        "/api/auth/refresh", json={"refresh_token": ada.tokens["refresh_token"]}
    )
    assert still.status_code == 200


# --- devices ----------------------------------------------------------------------------


async def test_devices_are_listed_and_forgetting_one_drops_its_delivery_marks(
    live: Live, he_vectors: dict[str, Any]
) -> None:
    ada = await account(live.client, "ada@example.com", he_vectors)
    bob = await account(live.client, "bob@example.com", he_vectors)
    entry = entry_upload(device="laptop")
    assert (await live.client.post("/api/sync/backup", json=entry, headers=ada.headers)).is_success
    pulled = await live.client.get(
        "/api/sync/changes", params={"device_id": "phone"}, headers=ada.headers
    )
    assert len(pulled.json()["changes"]) == 1
    await push(live.client, bob, device="bobs-tablet")

    devices = (await live.client.get("/api/sync/devices", headers=ada.headers)).json()
    by_id = {d["device_id"]: d for d in devices["devices"]}
    assert set(by_id) == {"laptop", "phone"}  # never Bob's
    assert by_id["laptop"]["entries_written"] == 1
    assert by_id["phone"]["entries_written"] == 0
    assert by_id["phone"]["first_seen_at"] <= by_id["phone"]["last_seen_at"]

    forgotten = await live.client.delete("/api/sync/devices/phone", headers=ada.headers)
    assert forgotten.status_code == 204
    left = (await live.client.get("/api/sync/devices", headers=ada.headers)).json()
    assert [d["device_id"] for d in left["devices"]] == ["laptop"]
    assert (
        await live.client.delete("/api/sync/devices/phone", headers=ada.headers)
    ).status_code == 404
    assert (
        await live.client.delete("/api/sync/devices/laptop", headers=bob.headers)
    ).status_code == 404

    # The phone had been sent revision 1; forgotten, it no longer counts as having seen it,
    # so its edit without a base revision is a conflict instead of a fast-forward.
    edit = {**entry, "encrypted_content": b64(b"phone edit"), "device_id": "phone"}
    answer = await live.client.post("/api/sync/backup", json=edit, headers=ada.headers)
    assert answer.status_code == 409, answer.text
