"""Live sync: tickets that open a change-notification stream, and the devices a user syncs.

A ticket stands in for the access token where a header cannot be sent (a browser's
EventSource): random, shown once, kept only as its SHA-256, valid for 60 seconds and for one
use. The stream itself carries no entry data, only that the user's change sequence moved.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from reflective_domain.errors import AuthenticationFailed, NotFound
from reflective_domain.ports import Clock
from reflective_domain.ports.unit_of_work import UnitOfWorkFactory
from reflective_domain.use_cases.sync import DEFAULT_PAGE, check_offset, check_page_size

TICKET_TTL = timedelta(seconds=60)
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

    async def redeem(self, token_hash: bytes, now: datetime) -> uuid.UUID | None:
        """Remove the ticket atomically and return its user, if it existed and had not
        expired by ``now``; two concurrent redemptions of one ticket: one wins."""
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


class RedeemEventTicket:
    """The user a ticket was issued to; AuthenticationFailed if unknown, used or expired."""

    def __init__(self, store: TicketStore, clock: Clock) -> None:
        self._store, self._clock = store, clock

    async def __call__(self, ticket: str) -> uuid.UUID:
        user_id = await self._store.redeem(hash_ticket(ticket), self._clock.now())
        if user_id is None:
            raise AuthenticationFailed(INVALID_TICKET)
        return user_id


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
        if not await self._devices.forget(user_id, device_id, token_issued_at=token_issued_at):
            raise NotFound(UNKNOWN_DEVICE)


class CurrentCursor:
    """The user's change sequence now: where a resumed stream compares Last-Event-ID."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(self, user_id: uuid.UUID) -> int:
        async with self._uow() as uow:
            return await uow.users.current_change_seq(user_id)
