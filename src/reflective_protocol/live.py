"""Live sync, sessions and devices."""

from __future__ import annotations

import uuid

import msgspec

from reflective_protocol.common import UtcDatetime


class EventTicketResponse(msgspec.Struct):
    """Open ``GET /api/sync/events?ticket=...`` with it once, within ``expires_in`` seconds."""

    ticket: str
    expires_at: UtcDatetime
    expires_in: int

    def __repr__(self) -> str:
        return "EventTicketResponse(<hidden>)"


class SessionView(msgspec.Struct):
    id: uuid.UUID
    device_name: str | None
    created_at: UtcDatetime
    last_used_at: UtcDatetime
    expires_at: UtcDatetime
    current: bool


class SessionList(msgspec.Struct):
    sessions: list[SessionView]
    total_count: int


class DeviceView(msgspec.Struct):
    device_id: str
    first_seen_at: UtcDatetime
    last_seen_at: UtcDatetime
    entries_written: int


class DeviceList(msgspec.Struct):
    devices: list[DeviceView]
    total_count: int
