"""Live sync on PostgreSQL: event tickets, the device directory, and the listener that turns
NOTIFY (sent by triggers in the writing transaction, migration 0009) into callbacks.

One dedicated asyncpg connection per process LISTENs; whatever it hears is fanned out in
memory by the app. After the connection is lost (a database restart), it reconnects with
backoff and reports that notifications may have been missed (``on_reconnect``).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import structlog
from sqlalchemy import Text, Uuid, bindparam, cast, delete, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from reflective_adapters.postgres.errors import storage_errors
from reflective_adapters.postgres.mappers import state_from_row
from reflective_adapters.postgres.repositories.users import STATE_STATEMENT
from reflective_adapters.postgres.schema import (
    deliveries,
    event_streams,
    event_tickets,
    sync_devices,
    users,
)
from reflective_adapters.postgres.urls import to_async_url
from reflective_domain.live import EventTicket, SyncDevice, TooManyStreams
from reflective_domain.use_cases._guards import check_token

log = structlog.get_logger("reflective.live")

CHANGES_CHANNEL = "reflective_changes"
CONFLICTS_CHANNEL = "reflective_conflicts"
METRICS_CHANNEL = "reflective_metrics"
LISTENER_APPLICATION_NAME = "reflective-listener"


async def _check_caller(
    connection: AsyncConnection, user_id: uuid.UUID, token_issued_at: datetime | None
) -> None:
    """The access token's check, in the caller's transaction (one narrow read of the user)."""
    if token_issued_at is None:
        return
    row = (await connection.execute(STATE_STATEMENT, {"uid": user_id})).first()
    check_token(state_from_row(row) if row is not None else None, token_issued_at)


class PgTicketStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(
        self, ticket: EventTicket, now: datetime, *, token_issued_at: datetime | None = None
    ) -> None:
        with storage_errors():
            async with self._engine.begin() as connection:
                await _check_caller(connection, ticket.user_id, token_issued_at)
                await connection.execute(
                    delete(event_tickets).where(event_tickets.c.expires_at <= now)
                )
                await connection.execute(
                    event_tickets.insert().values(
                        token_hash=ticket.token_hash,
                        user_id=ticket.user_id,
                        expires_at=ticket.expires_at,
                    )
                )


class PgDeviceDirectory:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def list(
        self,
        user_id: uuid.UUID,
        limit: int,
        offset: int = 0,
        *,
        token_issued_at: datetime | None = None,
    ) -> tuple[list[SyncDevice], int]:
        d = sync_devices.c
        stmt = (
            select(d.device_id, d.first_seen_at, d.last_seen_at, d.entries_written)
            .where(d.user_id == user_id)
            .order_by(d.last_seen_at.desc(), d.device_id)
            .offset(offset)
            .limit(limit)
        )
        count = select(func.count()).select_from(sync_devices).where(d.user_id == user_id)
        with storage_errors():
            async with self._engine.connect() as connection:
                await _check_caller(connection, user_id, token_issued_at)
                rows = await connection.execute(stmt)
                found = [SyncDevice(r[0], r[1], r[2], int(r[3])) for r in rows]
                total = int((await connection.execute(count)).scalar_one())
        return found, total

    async def forget(
        self, user_id: uuid.UUID, device_id: str, *, token_issued_at: datetime | None = None
    ) -> bool:
        with storage_errors():
            async with self._engine.begin() as connection:
                await _check_caller(connection, user_id, token_issued_at)
                await connection.execute(
                    delete(deliveries).where(
                        deliveries.c.user_id == user_id, deliveries.c.device_id == device_id
                    )
                )
                found = await connection.execute(
                    delete(sync_devices)
                    .where(sync_devices.c.user_id == user_id, sync_devices.c.device_id == device_id)
                    .returning(sync_devices.c.device_id)
                )
                return found.first() is not None


def _stream_lock(user_id: Any) -> Any:
    """Claims of one user's stream slots queue on this transaction-scoped advisory lock."""
    key = func.hashtextextended(literal("event_streams:", Text) + cast(user_id, Text), 0)
    return func.pg_advisory_xact_lock(key)


# The access token's check and the claim's lock in one read: the claim's count runs in the
# next statement, whose snapshot sees every claim committed before the lock was granted.
_STATE_AND_LOCK = STATE_STATEMENT.add_columns(_stream_lock(users.c.id).label("locked"))
_LOCK = select(_stream_lock(bindparam("uid", type_=Uuid)))
_REDEEM_AND_LOCK = (
    delete(event_tickets)
    .where(event_tickets.c.token_hash == bindparam("token_hash"))
    .returning(
        event_tickets.c.user_id,
        event_tickets.c.expires_at,
        _stream_lock(event_tickets.c.user_id).label("locked"),
    )
)
# One statement: drop the user's stale slots, count the live ones, take one if under the cap.
_CLAIM = text(
    """
    WITH pruned AS (
        DELETE FROM event_streams WHERE user_id = :uid AND seen_at < :stale_before
    ), live AS (
        SELECT count(*) AS n FROM event_streams
        WHERE user_id = :uid AND seen_at >= :stale_before
    )
    INSERT INTO event_streams (id, user_id, holder, opened_at, seen_at)
    SELECT :id, :uid, :holder, :now, :now FROM live WHERE live.n < :cap
    RETURNING id
    """
)


# The heartbeat: an upsert of the worker's open streams, so a row another claim pruned while
# this worker missed heartbeats (database outage, stalled loop) comes back and counts again.
# A deleted user's streams are skipped (the foreign key).
_REFRESH = text(
    """
    INSERT INTO event_streams (id, user_id, holder, opened_at, seen_at)
    SELECT s.id, s.uid, :holder, :now, :now
    FROM unnest(CAST(:ids AS uuid[]), CAST(:uids AS uuid[])) AS s(id, uid)
    WHERE EXISTS (SELECT 1 FROM users WHERE users.id = s.uid)
    ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at
    """
)


class _Full(Exception):
    """Rolls the ticket's redemption back when the user has no free slot."""


class PgStreamSlots:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def _claim(
        self,
        connection: AsyncConnection,
        user_id: uuid.UUID,
        holder: str,
        cap: int,
        now: datetime,
        stale_before: datetime,
    ) -> uuid.UUID | None:
        row = (
            await connection.execute(
                _CLAIM,
                {
                    "id": uuid.uuid4(),
                    "uid": user_id,
                    "holder": holder,
                    "now": now,
                    "stale_before": stale_before,
                    "cap": cap,
                },
            )
        ).first()
        return None if row is None else row.id

    async def claim(
        self,
        user_id: uuid.UUID,
        holder: str,
        cap: int,
        now: datetime,
        stale_before: datetime,
        *,
        token_issued_at: datetime | None = None,
    ) -> uuid.UUID | None:
        with storage_errors():
            async with self._engine.begin() as connection:
                if token_issued_at is not None:
                    row = (await connection.execute(_STATE_AND_LOCK, {"uid": user_id})).first()
                    check_token(state_from_row(row) if row is not None else None, token_issued_at)
                    return await self._claim(connection, user_id, holder, cap, now, stale_before)
                return await self.claim_in(connection, user_id, holder, cap, now, stale_before)

    async def claim_in(
        self,
        connection: AsyncConnection,
        user_id: uuid.UUID,
        holder: str,
        cap: int,
        now: datetime,
        stale_before: datetime,
    ) -> uuid.UUID | None:
        """The claim in the caller's transaction: the user's lock, then the claim."""
        await connection.execute(_LOCK, {"uid": user_id})
        return await self._claim(connection, user_id, holder, cap, now, stale_before)

    async def claim_with_ticket(
        self, token_hash: bytes, holder: str, cap: int, now: datetime, stale_before: datetime
    ) -> tuple[uuid.UUID, uuid.UUID] | None:
        try:
            with storage_errors():
                async with self._engine.begin() as connection:
                    row = (
                        await connection.execute(_REDEEM_AND_LOCK, {"token_hash": token_hash})
                    ).first()
                    if row is None or row.expires_at <= now:
                        return None
                    user_id: uuid.UUID = row.user_id
                    slot = await self._claim(connection, user_id, holder, cap, now, stale_before)
                    if slot is None:
                        raise _Full
                    return user_id, slot
        except _Full:
            raise TooManyStreams("Too many open event streams") from None

    async def release(self, slot_id: uuid.UUID) -> None:
        with storage_errors():
            async with self._engine.begin() as connection:
                await connection.execute(delete(event_streams).where(event_streams.c.id == slot_id))

    async def refresh(
        self, holder: str, live: Sequence[tuple[uuid.UUID, uuid.UUID]], now: datetime
    ) -> None:
        if not live:
            return
        with storage_errors():
            async with self._engine.begin() as connection:
                await connection.execute(
                    _REFRESH,
                    {
                        "ids": [slot for slot, _ in live],
                        "uids": [user for _, user in live],
                        "holder": holder,
                        "now": now,
                    },
                )


Connector = Callable[[], Awaitable[asyncpg.Connection]]
"""Opens the listener's own connection (``asyncpg_connector``)."""


def asyncpg_connector(engine: AsyncEngine, url: str | None = None) -> Connector:
    """Opens plain asyncpg connections to ``url`` (LISTEN_DATABASE_URL), or else to the
    engine's database, with the arguments SQLAlchemy's dialect would use (unix sockets, ssl
    and all)."""
    target = engine.url if url is None else to_async_url(url)
    args, kwargs = engine.dialect.create_connect_args(target)
    kwargs = dict(kwargs)
    kwargs.pop("prepared_statement_cache_size", None)
    kwargs.pop("async_fallback", None)
    # Named apart from the app's pooled connections (``engine.APPLICATION_NAME``).
    kwargs["server_settings"] = {"application_name": LISTENER_APPLICATION_NAME}

    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(*args, **kwargs, timeout=10)

    return connect


Handler = Callable[[str, str], None]
"""Called with (channel, payload) for each notification, in the event loop."""


class ChangeListener:
    """LISTEN on ``channels`` over one dedicated connection, for the life of the app."""

    def __init__(
        self,
        connect: Connector,
        channels: tuple[str, ...],
        on_notify: Handler,
        on_reconnect: Callable[[], None],
        *,
        check_interval: float = 15.0,
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
    ) -> None:
        self._connect = connect
        self._channels = channels
        self._on_notify = on_notify
        self._on_reconnect = on_reconnect
        self._check_interval = check_interval
        self._min_backoff, self._max_backoff = min_backoff, max_backoff
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._connection: asyncpg.Connection | None = None
        self.connected = asyncio.Event()
        self.reconnects = 0

    async def start(self) -> None:
        """Connect and listen; returns once listening (the first connection's error, if
        the database is not reachable, is logged and retried in the background)."""
        self._task = asyncio.create_task(self._run(), name="reflective-change-listener")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.connected.wait(), timeout=10)

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._close()

    def _deliver(self, _connection: Any, _pid: int, channel: str, payload: str) -> None:
        try:
            self._on_notify(channel, payload)
        except Exception:  # one bad notification must not stop the listener
            log.exception("notification_failed", channel=channel)

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), timeout=2)
            if not connection.is_closed():
                connection.terminate()

    async def _listen(self) -> asyncio.Event:
        lost = asyncio.Event()
        connection = await self._connect()
        self._connection = connection
        connection.add_termination_listener(lambda _c: lost.set())
        for channel in self._channels:
            await connection.add_listener(channel, self._deliver)
        return lost

    async def _run(self) -> None:
        backoff = self._min_backoff
        first = True
        while not self._stopping.is_set():
            try:
                lost = await self._listen()
            except Exception as exc:  # refused, starting up, timed out...: keep trying
                await self._close()
                log.warning(
                    "listener_connect_failed", error_type=type(exc).__name__, retry_in_s=backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            backoff = self._min_backoff
            self.connected.set()
            if not first:
                self.reconnects += 1
                log.info("listener_reconnected")
                # Whatever was notified while the connection was down is lost: every stream
                # is told to pull again.
                self._on_reconnect()
            first = False
            await self._watch(lost)
            self.connected.clear()
            await self._close()
            log.warning("listener_connection_lost")

    async def _watch(self, lost: asyncio.Event) -> None:
        """Until the connection is lost: its end is reported by asyncpg, and a periodic
        round trip catches a connection that died silently."""
        while not lost.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(lost.wait(), timeout=self._check_interval)
                return
            connection = self._connection
            if connection is None:
                return
            try:
                await connection.fetchval("SELECT 1", timeout=5)
            except Exception:
                return


def listen_channels() -> tuple[str, ...]:
    return (CHANGES_CHANNEL, CONFLICTS_CHANNEL, METRICS_CHANNEL)


__all__ = [
    "CHANGES_CHANNEL",
    "CONFLICTS_CHANNEL",
    "METRICS_CHANNEL",
    "ChangeListener",
    "PgDeviceDirectory",
    "PgTicketStore",
    "asyncpg_connector",
    "listen_channels",
]
