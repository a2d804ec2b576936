"""Live sync, sessions and devices."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

from reflective_app.dto.common import as_utc
from reflective_domain.live import IssuedTicket, SyncDevice
from reflective_domain.sessions import Session


class EventTicketResponse(msgspec.Struct):
    """Open ``GET /api/sync/events?ticket=...`` with it once, within ``expires_in`` seconds."""

    ticket: str
    expires_at: datetime
    expires_in: int

    @classmethod
    def of(cls, issued: IssuedTicket, now: datetime) -> EventTicketResponse:
        seconds = max(0, int((issued.expires_at - now).total_seconds()))
        return cls(issued.ticket, as_utc(issued.expires_at), seconds)

    def __repr__(self) -> str:
        return "EventTicketResponse(<hidden>)"


class SessionView(msgspec.Struct):
    id: uuid.UUID
    device_name: str | None
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    current: bool

    @classmethod
    def of(cls, session: Session, current: uuid.UUID | None) -> SessionView:
        return cls(
            id=session.id,
            device_name=session.device_name,
            created_at=as_utc(session.created_at),
            last_used_at=as_utc(session.last_used_at),
            expires_at=as_utc(session.expires_at),
            current=session.id == current,
        )


class SessionList(msgspec.Struct):
    sessions: list[SessionView]
    total_count: int


class DeviceView(msgspec.Struct):
    device_id: str
    first_seen_at: datetime
    last_seen_at: datetime
    entries_written: int

    @classmethod
    def of(cls, device: SyncDevice) -> DeviceView:
        return cls(
            device_id=device.device_id,
            first_seen_at=as_utc(device.first_seen_at),
            last_seen_at=as_utc(device.last_seen_at),
            entries_written=device.entries_written,
        )


class DeviceList(msgspec.Struct):
    devices: list[DeviceView]
    total_count: int
