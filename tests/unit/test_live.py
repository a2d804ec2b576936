"""Live sync without a database: tickets, sessions (memory adapters) and the per-worker hub
that fans notifications out to streams."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import datetime

import pytest

from reflective_adapters.memory.live import MemoryStreamSlots, MemoryTicketStore
from reflective_app.container import Container
from reflective_app.live import Change, EventHub, HubClosed
from reflective_domain.errors import AuthenticationFailed, NotFound, ValidationFailed
from reflective_domain.live import (
    IssueEventTicket,
    OpenEventStream,
    TooManyStreams,
    hash_ticket,
)
from reflective_domain.sessions import session_name
from tests.composition import new_user
from tests.fakes import FakeClock

CHANGES, CONFLICTS, METRICS = "reflective_changes", "reflective_conflicts", "reflective_metrics"

# --- tickets ------------------------------------------------------------------------------


async def test_a_ticket_is_redeemed_once_for_its_user() -> None:
    store, clock, user = MemoryTicketStore(), FakeClock(), uuid.uuid4()
    issued = await IssueEventTicket(store, clock)(user)
    assert issued.ticket not in repr(issued)
    open_stream = OpenEventStream(MemoryStreamSlots(store), clock, cap=8, heartbeat_seconds=15)
    assert (await open_stream.with_ticket(issued.ticket, "worker")).user_id == user
    with pytest.raises(AuthenticationFailed, match="Invalid or expired ticket"):
        await open_stream.with_ticket(issued.ticket, "worker")


async def test_a_ticket_lives_60_seconds() -> None:
    store, clock, user = MemoryTicketStore(), FakeClock(), uuid.uuid4()
    issue = IssueEventTicket(store, clock)
    open_stream = OpenEventStream(MemoryStreamSlots(store), clock, cap=8, heartbeat_seconds=15)
    fresh = await issue(user)
    clock.advance(seconds=59)
    assert (await open_stream.with_ticket(fresh.ticket, "worker")).user_id == user
    late = await issue(user)
    clock.advance(seconds=60)
    with pytest.raises(AuthenticationFailed):
        await open_stream.with_ticket(late.ticket, "worker")


async def test_tickets_are_kept_hashed_and_expired_ones_dropped() -> None:
    store, clock = MemoryTicketStore(), FakeClock()
    issue = IssueEventTicket(store, clock)
    first = await issue(uuid.uuid4())
    assert hash_ticket(first.ticket) != first.ticket.encode()
    clock.advance(seconds=61)
    await issue(uuid.uuid4())
    assert len(store) == 1  # the expired one went when the next was issued


# --- sessions -----------------------------------------------------------------------------


def test_session_names_are_printable_and_short() -> None:
    assert session_name("  Phone\n\x00 ") == "Phone"
    assert session_name("x" * 500) == "x" * 100
    assert session_name("   ") is None and session_name(None) is None


async def test_sessions_keep_name_and_start_through_refresh(container: Container) -> None:
    user = await new_user(container, "ada@example.com")
    started = container.clock().now()
    pair = await container.sign_in()(
        "ada@example.com", "correct horse battery", device_name="Ada's phone"
    )
    container.clock().advance(minutes=5)
    await container.refresh_session()(pair.refresh_token)
    (session,) = (await container.list_sessions()(user)).sessions
    assert session.device_name == "Ada's phone"
    assert session.created_at == started
    assert session.last_used_at == container.clock().now()
    claims = container.tokens().read_access(pair.access_token)
    assert claims.session_id == session.id


async def test_ending_a_session_refuses_its_refresh_token_only(container: Container) -> None:
    user = await new_user(container, "ada@example.com")
    phone = await container.sign_in()("ada@example.com", "correct horse battery", device_name="p")
    laptop = await container.sign_in()("ada@example.com", "correct horse battery", device_name="l")
    sessions = (await container.list_sessions()(user)).sessions
    assert {s.device_name for s in sessions} == {"p", "l"}
    phone_id = next(s.id for s in sessions if s.device_name == "p")
    await container.end_session()(user, phone_id)
    with pytest.raises(AuthenticationFailed):
        await container.refresh_session()(phone.refresh_token)
    await container.refresh_session()(laptop.refresh_token)
    with pytest.raises(NotFound):  # already ended
        await container.end_session()(user, phone_id)


async def test_another_users_session_is_not_found(container: Container) -> None:
    ada = await new_user(container, "ada@example.com")
    bob = await new_user(container, "bob@example.com")
    pair = await container.sign_in()("ada@example.com", "correct horse battery")
    (adas,) = (await container.list_sessions()(ada)).sessions
    assert (await container.list_sessions()(bob)).sessions == []
    with pytest.raises(NotFound):
        await container.end_session()(bob, adas.id)
    await container.refresh_session()(pair.refresh_token)  # untouched


async def test_sessions_are_paged(container: Container) -> None:
    user = await new_user(container, "ada@example.com")
    for n in range(5):
        container.clock().advance(seconds=1)
        await container.sign_in()("ada@example.com", "correct horse battery", device_name=f"d{n}")
    pages = [await container.list_sessions()(user, 2, offset) for offset in (0, 2, 4)]
    names = [s.device_name for page in pages for s in page.sessions]
    assert names == ["d4", "d3", "d2", "d1", "d0"]  # newest first
    assert [(p.total_count, p.has_more) for p in pages] == [(5, True), (5, True), (5, False)]
    for limit, offset in ((0, 0), (501, 0), (1, -1)):
        with pytest.raises(ValidationFailed):
            await container.list_sessions()(user, limit, offset)


# --- the hub ------------------------------------------------------------------------------


async def test_notifications_reach_only_their_users_streams() -> None:
    hub = EventHub()
    ada, bob = uuid.uuid4(), uuid.uuid4()
    adas, bobs = hub.subscribe(ada), hub.subscribe(bob)
    hub.notify(CHANGES, f"{ada}:7")
    assert await adas.next(1) == [Change(cursor=7, kinds=("entries",))]
    assert await bobs.next(0.01) == []  # nothing: a heartbeat is due


async def test_a_burst_becomes_one_event_with_the_highest_cursor() -> None:
    hub = EventHub()
    ada = uuid.uuid4()
    stream = hub.subscribe(ada)
    hub.notify(CHANGES, f"{ada}:3")
    hub.notify(CONFLICTS, f"{ada}:4")
    hub.notify(CHANGES, f"{ada}:2")  # late, lower: does not move the cursor back
    hub.notify(METRICS, str(ada))
    assert await stream.next(1) == [
        Change(cursor=4, kinds=("conflicts", "entries")),
        Change(metrics=True),
    ]


async def test_malformed_notifications_are_ignored() -> None:
    hub = EventHub()
    ada = uuid.uuid4()
    stream = hub.subscribe(ada)
    for channel, payload in [(CHANGES, "nonsense"), (CHANGES, f"{ada}:x"), ("other", f"{ada}:1")]:
        hub.notify(channel, payload)
    assert await stream.next(0.01) == []


async def test_streams_are_capped_per_user_and_give_their_place_back() -> None:
    slots, clock = MemoryStreamSlots(), FakeClock()
    open_stream = OpenEventStream(slots, clock, cap=2, heartbeat_seconds=15)
    hub = EventHub(slots)
    ada = uuid.uuid4()
    # Two workers (holders) share the cap: it is the user's, not the worker's.
    first = await open_stream.with_token(ada, clock.now(), "worker-1")
    await open_stream.with_token(ada, clock.now(), "worker-2")
    with pytest.raises(TooManyStreams, match="at most 2"):
        await open_stream.with_token(ada, clock.now(), "worker-1")
    await open_stream.with_token(uuid.uuid4(), clock.now(), "worker-1")  # another user
    stream = hub.subscribe(ada, first.slot_id)
    await hub.release(stream)
    await open_stream.with_token(ada, clock.now(), "worker-2")
    assert len(slots) == 3


async def test_a_crashed_workers_slots_stop_counting() -> None:
    slots, clock = MemoryStreamSlots(), FakeClock()
    open_stream = OpenEventStream(slots, clock, cap=1, heartbeat_seconds=15)
    ada = uuid.uuid4()
    await open_stream.with_token(ada, clock.now(), "crashed")
    clock.advance(seconds=30)
    await slots.refresh("alive", [], clock.now())  # only the live worker refreshes
    with pytest.raises(TooManyStreams):
        await open_stream.with_token(ada, clock.now(), "alive")
    clock.advance(seconds=16)  # 46 s unrefreshed: more than 3 heartbeats
    await open_stream.with_token(ada, clock.now(), "alive")
    assert len(slots) == 1  # the stale slot was dropped by the claim


async def test_a_pruned_slot_of_an_open_stream_comes_back_with_the_heartbeat() -> None:
    slots, clock = MemoryStreamSlots(), FakeClock()
    open_stream = OpenEventStream(slots, clock, cap=1, heartbeat_seconds=15)
    hub = EventHub(slots)
    ada = uuid.uuid4()
    opened = await open_stream.with_token(ada, clock.now(), hub.holder)
    stream = hub.subscribe(ada, opened.slot_id)
    await slots.release(opened.slot_id)  # pruned by another worker's claim
    await hub.refresh_slots(clock.now())
    assert len(slots) == 1
    with pytest.raises(TooManyStreams):  # it counts again
        await open_stream.with_token(ada, clock.now(), "worker-2")
    await hub.release(stream)
    await hub.refresh_slots(clock.now())  # an ended stream's slot stays freed
    assert len(slots) == 0


async def test_a_stream_ending_during_the_heartbeat_keeps_its_slot_freed() -> None:
    class EndingMidway(MemoryStreamSlots):
        """The stream ends (its row deleted) while the upsert that still lists it runs."""

        async def refresh(
            self, holder: str, live: Sequence[tuple[uuid.UUID, uuid.UUID]], now: datetime
        ) -> None:
            await hub.release(stream)
            await super().refresh(holder, live, now)

    slots, clock, ada = EndingMidway(), FakeClock(), uuid.uuid4()
    hub = EventHub(slots)
    opened = await OpenEventStream(slots, clock, cap=1, heartbeat_seconds=15).with_token(
        ada, clock.now(), hub.holder
    )
    stream = hub.subscribe(ada, opened.slot_id)
    await hub.refresh_slots(clock.now())
    assert len(slots) == 0


async def test_a_ticket_for_a_full_user_stays_unused() -> None:
    tickets, clock, ada = MemoryTicketStore(), FakeClock(), uuid.uuid4()
    slots = MemoryStreamSlots(tickets)
    open_stream = OpenEventStream(slots, clock, cap=1, heartbeat_seconds=15)
    issued = await IssueEventTicket(tickets, clock)(ada)
    await open_stream.with_token(ada, clock.now(), "worker-1")
    with pytest.raises(TooManyStreams):
        await open_stream.with_ticket(issued.ticket, "worker-1")
    assert len(tickets) == 1
    with pytest.raises(AuthenticationFailed):
        await open_stream.with_ticket("unknown", "worker-1")


async def test_resync_and_shutdown_reach_every_stream() -> None:
    hub = EventHub()
    streams = [hub.subscribe(uuid.uuid4()) for _ in range(3)]
    hub.resync_all()
    assert [await s.next(1) for s in streams] == [[Change(resync=True)]] * 3
    waiting = asyncio.create_task(streams[0].next(30))
    await asyncio.sleep(0)
    hub.close_all()
    assert await asyncio.wait_for(waiting, 5) == [Change(closed=True)]
    with pytest.raises(HubClosed):
        hub.subscribe(uuid.uuid4())
