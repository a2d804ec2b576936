"""Live sync: tickets that open a change-notification stream, and the devices a user syncs.

A ticket stands in for the access token where a header cannot be sent (a browser's
EventSource): random, shown once, kept only as its SHA-256, valid for 60 seconds and for one
use. The stream itself carries no entry data, only that the user's change sequence moved.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from reflective_domain.entries import check_device_id
from reflective_domain.errors import AuthenticationFailed, DomainError, NotFound
from reflective_domain.ports import Clock
from reflective_domain.ports.unit_of_work import UnitOfWorkFactory
from reflective_domain.use_cases.sync import DEFAULT_PAGE, check_offset, check_page_size

TICKET_TTL = timedelta(seconds=60)
# A stream slot its worker has not refreshed for this many heartbeats counts no more.
STALE_HEARTBEATS = 3
INVALID_TICKET = "Invalid or expired ticket"
UNKNOWN_DEVICE = "Device not found"


def hash_ticket(ticket: str) -> bytes:
    return hashlib.sha256(ticket.encode()).digest()


@dataclass(frozen=True, slots=True)
class EventTicket:
    token_hash: bytes
    user_id: uuid.UUID
    expires_at: datetime

    def __repr__(self) -> str:
        return f"EventTicket(user={self.user_id}, expires_at={self.expires_at.isoformat()})"


@dataclass(frozen=True, slots=True)
class IssuedTicket:
    ticket: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"IssuedTicket(<hidden>, expires_at={self.expires_at.isoformat()})"


class TicketStore(Protocol):
    """Tickets shared by every worker."""

    async def add(
        self, ticket: EventTicket, now: datetime, *, token_issued_at: datetime | None = None
    ) -> None:
        """Keep ``ticket`` (and drop tickets expired by ``now``). With ``token_issued_at``
        (the caller's access token), first check in the same transaction that the account
        still accepts it (AuthenticationFailed otherwise)."""
        ...


class IssueEventTicket:
    def __init__(self, store: TicketStore, clock: Clock, ttl: timedelta = TICKET_TTL) -> None:
        self._store, self._clock, self._ttl = store, clock, ttl

    async def __call__(
        self, user_id: uuid.UUID, *, token_issued_at: datetime | None = None
    ) -> IssuedTicket:
        now = self._clock.now()
        raw = secrets.token_urlsafe(32)
        expires = now + self._ttl
        ticket = EventTicket(hash_ticket(raw), user_id, expires)
        await self._store.add(ticket, now, token_issued_at=token_issued_at)
        return IssuedTicket(raw, expires)


class StreamSlots(Protocol):
    """The event streams open on every worker and instance, a slot each, so the per-user
    cap holds across processes. A worker (``holder``, a random id per process) refreshes its
    slots on each heartbeat; a slot not refreshed since ``stale_before`` (its worker crashed)
    no longer counts. Claims of one user are serialized: two workers never both take the
    last slot."""

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
        """A new slot for the user, or None when it already holds ``cap`` live ones. With
        ``token_issued_at`` (the caller's access token), first check in the same transaction
        that the account still accepts it (AuthenticationFailed otherwise)."""
        ...

    async def claim_with_ticket(
        self, token_hash: bytes, holder: str, cap: int, now: datetime, stale_before: datetime
    ) -> tuple[uuid.UUID, uuid.UUID] | None:
        """Redeem the ticket (remove it atomically: of two concurrent redemptions one wins)
        and claim a slot for its user in the same transaction: the user and the slot; None
        for an unknown or expired ticket; TooManyStreams when full (the ticket then stays
        unused)."""
        ...

    async def release(self, slot_id: uuid.UUID) -> None:
        """The stream ended: free its slot."""
        ...

    async def refresh(
        self, holder: str, live: Sequence[tuple[uuid.UUID, uuid.UUID]], now: datetime
    ) -> None:
        """Mark ``holder``'s open streams, ``live`` (slot id, user id), as alive at ``now``,
        re-creating a slot that another claim pruned meanwhile (this worker missed heartbeats
        while its streams stayed open), unless the user is gone."""
        ...


class TooManyStreams(DomainError):
    """The user already has the maximum of open event streams (429)."""

    code = "rate_limited"


@dataclass(frozen=True, slots=True)
class OpenedStream:
    user_id: uuid.UUID
    slot_id: uuid.UUID


class OpenEventStream:
    """Authorize an event stream (an access token's claims or a ticket) and claim its slot
    under the per-user cap, in one transaction. A slot not refreshed for ``stale_after``
    belongs to a crashed worker and no longer counts."""

    def __init__(
        self, slots: StreamSlots, clock: Clock, cap: int, heartbeat_seconds: float
    ) -> None:
        self._slots, self._clock, self._cap = slots, clock, cap
        self._stale_after = timedelta(seconds=heartbeat_seconds * STALE_HEARTBEATS)

    def _full(self) -> TooManyStreams:
        return TooManyStreams(f"Too many open event streams for this account (at most {self._cap})")

    async def with_token(
        self, user_id: uuid.UUID, token_issued_at: datetime, holder: str
    ) -> OpenedStream:
        """``holder``: the worker that will serve the stream."""
        now = self._clock.now()
        slot = await self._slots.claim(
            user_id,
            holder,
            self._cap,
            now,
            now - self._stale_after,
            token_issued_at=token_issued_at,
        )
        if slot is None:
            raise self._full()
        return OpenedStream(user_id, slot)

    async def with_ticket(self, ticket: str, holder: str) -> OpenedStream:
        now = self._clock.now()
        try:
            claimed = await self._slots.claim_with_ticket(
                hash_ticket(ticket), holder, self._cap, now, now - self._stale_after
            )
        except TooManyStreams:
            raise self._full() from None
        if claimed is None:
            raise AuthenticationFailed(INVALID_TICKET)
        return OpenedStream(*claimed)


@dataclass(frozen=True, slots=True)
class SyncDevice:
    """A device id that wrote entries or was sent them. ``entries_written`` counts entry
    versions and deletions stored from it; ``last_seen_at`` is its last write or delivery."""

    device_id: str
    first_seen_at: datetime
    last_seen_at: datetime
    entries_written: int


class DeviceDirectory(Protocol):
    """With ``token_issued_at`` (the caller's access token), each call first checks in its
    own transaction that the account still accepts that token (AuthenticationFailed
    otherwise)."""

    async def list(
        self,
        user_id: uuid.UUID,
        limit: int,
        offset: int = 0,
        *,
        token_issued_at: datetime | None = None,
    ) -> tuple[list[SyncDevice], int]:
        """A page of the user's devices, most recently seen first, and how many there are."""
        ...

    async def forget(
        self, user_id: uuid.UUID, device_id: str, *, token_issued_at: datetime | None = None
    ) -> bool:
        """Drop the device and what the server has recorded as sent to it; whether it was
        known."""
        ...


@dataclass(frozen=True, slots=True)
class DevicePage:
    devices: list[SyncDevice]
    has_more: bool
    total_count: int


class ListDevices:
    """A page at a time: every device id a pull names is recorded."""

    def __init__(self, devices: DeviceDirectory) -> None:
        self._devices = devices

    async def __call__(
        self,
        user_id: uuid.UUID,
        limit: int = DEFAULT_PAGE,
        offset: int = 0,
        *,
        token_issued_at: datetime | None = None,
    ) -> DevicePage:
        check_page_size(limit)
        check_offset(offset)
        found, total = await self._devices.list(
            user_id, limit, offset, token_issued_at=token_issued_at
        )
        return DevicePage(found, offset + len(found) < total, total)


class ForgetDevice:
    """Forget a device: the server no longer counts any version as seen by it, so its next
    upload without a base revision over another device's version is a conflict (rule 6)."""

    def __init__(self, devices: DeviceDirectory) -> None:
        self._devices = devices

    async def __call__(
        self, user_id: uuid.UUID, device_id: str, *, token_issued_at: datetime | None = None
    ) -> None:
        check_device_id(device_id)
        if not await self._devices.forget(user_id, device_id, token_issued_at=token_issued_at):
            raise NotFound(UNKNOWN_DEVICE)


class CurrentCursor:
    """The user's change sequence now: where a resumed stream compares Last-Event-ID."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(self, user_id: uuid.UUID) -> int:
        async with self._uow() as uow:
            return await uow.users.current_change_seq(user_id)
