"""Change notifications in one worker: the hub that fans what the database listener hears out
to this worker's event streams.

Every worker keeps one listening connection (``ChangeListener``) and its own hub; a write on
any worker (or any instance) reaches every worker through PostgreSQL NOTIFY. A stream holds
no queue: each subscription keeps the newest cursor, the kinds of change since it last sent,
and flags, so a slow reader costs a few fields, never a backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from types import FrameType
from typing import Any

import structlog

from reflective_adapters.postgres.live import (
    CHANGES_CHANNEL,
    CONFLICTS_CHANNEL,
    METRICS_CHANNEL,
    ChangeListener,
    Connector,
    listen_channels,
)
from reflective_app.settings import Settings
from reflective_domain.live import StreamSlots
from reflective_domain.ports import Clock

log = structlog.get_logger("reflective.live")

_KINDS = {CHANGES_CHANNEL: "entries", CONFLICTS_CHANNEL: "conflicts"}


class HubClosed(Exception):
    """The worker is shutting down and opens no new streams."""


@dataclass(frozen=True, slots=True)
class Change:
    """What a stream sends next: the cursor and kinds, metrics moved, resync, or the end."""

    cursor: int | None = None
    kinds: tuple[str, ...] = ()
    metrics: bool = False
    resync: bool = False
    closed: bool = False


@dataclass(eq=False, slots=True)
class Subscription:
    user_id: uuid.UUID
    slot_id: uuid.UUID | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _cursor: int | None = None
    _kinds: set[str] = field(default_factory=set)
    _metrics: bool = False
    _resync: bool = False
    _closed: bool = False

    def changed(self, cursor: int, kind: str) -> None:
        if self._cursor is None or cursor > self._cursor:
            self._cursor = cursor
        self._kinds.add(kind)
        self._wake.set()

    def metrics_changed(self) -> None:
        self._metrics = True
        self._wake.set()

    def resync(self) -> None:
        self._resync = True
        self._wake.set()

    def close(self) -> None:
        self._closed = True
        self._wake.set()

    async def next(self, timeout: float) -> list[Change]:
        """What happened since the last call, waiting up to ``timeout`` seconds for
        something (an empty list: nothing happened, time for a heartbeat)."""
        if not self._wake.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()
        out: list[Change] = []
        if self._closed:
            return [Change(closed=True)]
        if self._resync:
            out.append(Change(resync=True))
        if self._kinds:
            out.append(Change(cursor=self._cursor, kinds=tuple(sorted(self._kinds))))
        if self._metrics:
            out.append(Change(metrics=True))
        self._resync = self._metrics = False
        self._kinds = set()
        return out


class EventHub:
    """This worker's open streams by user. The per-user cap is the database's (``StreamSlots``,
    shared by every worker): ``holder`` names this worker's slots there, and the hub frees a
    stream's slot when it ends."""

    def __init__(self, slots: StreamSlots | None = None, heartbeat_seconds: float = 15.0) -> None:
        self.slots = slots
        self.heartbeat_seconds = heartbeat_seconds
        self.holder = uuid.uuid4().hex
        self._streams: dict[uuid.UUID, set[Subscription]] = {}
        self._closed = False
        self.listener: ChangeListener | None = None

    @property
    def stream_count(self) -> int:
        return sum(len(s) for s in self._streams.values())

    def check_open(self) -> None:
        if self._closed:
            raise HubClosed("The server is shutting down")

    def subscribe(self, user_id: uuid.UUID, slot_id: uuid.UUID | None = None) -> Subscription:
        self.check_open()
        subscription = Subscription(user_id, slot_id)
        self._streams.setdefault(user_id, set()).add(subscription)
        return subscription

    async def release(self, subscription: Subscription) -> None:
        """The stream ended: drop it here and free its slot (once; a slot left behind by a
        failure expires with the heartbeats that no longer refresh it)."""
        self.unsubscribe(subscription)
        slot_id, subscription.slot_id = subscription.slot_id, None
        await self.free_slot(slot_id)

    async def free_slot(self, slot_id: uuid.UUID | None) -> None:
        if slot_id is None or self.slots is None:
            return
        try:
            await self.slots.release(slot_id)
        except Exception:  # it expires: nothing refreshes it any more
            log.warning("stream_slot_release_failed", exc_info=True)

    async def refresh_slots(self, now: datetime) -> None:
        if self.slots is None:
            return
        live = self._live_slots()
        try:
            await self.slots.refresh(self.holder, sorted(live.items()), now)
        except Exception:  # the next heartbeat tries again
            log.warning("stream_slot_refresh_failed", exc_info=True)
            return
        # A stream that ended during the upsert may have had its freed row re-created: free
        # it again (deleting a missing row is harmless).
        for slot_id in live.keys() - self._live_slots().keys():
            await self.free_slot(slot_id)

    def _live_slots(self) -> dict[uuid.UUID, uuid.UUID]:
        """Slot id -> user id of this worker's open streams."""
        return {
            s.slot_id: user_id
            for user_id, mine in self._streams.items()
            for s in mine
            if s.slot_id is not None
        }

    def unsubscribe(self, subscription: Subscription) -> None:
        mine = self._streams.get(subscription.user_id)
        if mine is not None:
            mine.discard(subscription)
            if not mine:
                del self._streams[subscription.user_id]

    def notify(self, channel: str, payload: str) -> None:
        """A notification from the database: ``<user id>:<sequence>`` on the change and
        conflict channels, ``<user id>`` on the metrics channel."""
        user_part, _, seq_part = payload.partition(":")
        try:
            user_id = uuid.UUID(user_part)
        except ValueError:
            log.warning("notification_malformed", channel=channel)
            return
        mine = self._streams.get(user_id)
        if not mine:
            return
        if channel == METRICS_CHANNEL:
            for subscription in mine:
                subscription.metrics_changed()
            return
        kind = _KINDS.get(channel)
        if kind is None or not seq_part.isdigit():
            log.warning("notification_malformed", channel=channel)
            return
        cursor = int(seq_part)
        for subscription in mine:
            subscription.changed(cursor, kind)

    def resync_all(self) -> None:
        for mine in self._streams.values():
            for subscription in mine:
                subscription.resync()

    def close_all(self) -> None:
        """Shutdown: refuse new streams and end every open one."""
        self._closed = True
        for mine in self._streams.values():
            for subscription in mine:
                subscription.close()


def _on_shutdown_signal(callback: Callable[[], None]) -> Callable[[], None]:
    """Run ``callback`` in the loop when the server is told to stop (SIGINT/SIGTERM), before
    it waits for open connections to finish: uvicorn waits for every response to end before
    the app's shutdown runs, so open streams must end first. Chains to the handler already
    installed (uvicorn's); returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    installed: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue  # not a server's handler (default or ignored): leave it alone

        def handler(signum: int, frame: FrameType | None, previous: Any = previous) -> None:
            loop.call_soon_threadsafe(callback)
            previous(signum, frame)

        signal.signal(sig, handler)
        installed[sig] = (handler, previous)

    def undo() -> None:
        for sig, (handler, previous) in installed.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, previous)

    return undo


async def _keep_slots(hub: EventHub, clock: Clock) -> None:
    """Refresh this worker's stream slots on each heartbeat: while it runs they count."""
    while True:
        await asyncio.sleep(hub.heartbeat_seconds)
        await hub.refresh_slots(clock.now())


async def open_event_hub(
    settings: Settings, connect: Connector, slots: StreamSlots, clock: Clock
) -> AsyncIterator[EventHub]:
    """The container's resource: the hub, its listening connection (opened by ``connect``)
    and the heartbeat that keeps its stream slots alive, for the app's life."""
    hub = EventHub(slots, settings.events_heartbeat_seconds)
    listener = ChangeListener(
        connect,
        listen_channels(),
        hub.notify,
        hub.resync_all,
        check_interval=settings.events_heartbeat_seconds,
    )
    hub.listener = listener
    await listener.start()
    keeper = asyncio.create_task(_keep_slots(hub, clock))
    undo = _on_shutdown_signal(hub.close_all)
    try:
        yield hub
    finally:
        undo()
        hub.close_all()
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
        await listener.stop()
