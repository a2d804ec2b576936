"""Live sync, sessions and devices."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec


class EventTicketResponse(msgspec.Struct):
    """Open ``GET /api/sync/events?ticket=...`` with it once, within ``expires_in`` seconds."""

    ticket: str
    expires_at: datetime
    expires_in: int

    def __repr__(self) -> str:
        return "EventTicketResponse(<hidden>)"


class SessionView(msgspec.Struct):
    id: uuid.UUID
    device_name: str | None
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    current: bool


class SessionList(msgspec.Struct):
    sessions: list[SessionView]
    total_count: int


class DeviceView(msgspec.Struct):
    device_id: str
    first_seen_at: datetime
    last_seen_at: datetime
    entries_written: int


class DeviceList(msgspec.Struct):
    devices: list[DeviceView]
    total_count: int
