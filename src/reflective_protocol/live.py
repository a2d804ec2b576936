"""Live sync, sessions and devices."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec

from reflective_protocol.common import UtcDatetime, doc


class EventTicketResponse(msgspec.Struct):
    """Open ``GET /api/sync/events?ticket=...`` with it once, within ``expires_in`` seconds."""

    ticket: Annotated[str, doc("Single use: pass as ?ticket= to GET /api/sync/events")]
    expires_at: Annotated[UtcDatetime, doc("When the ticket expires (UTC)")]
    expires_in: Annotated[int, doc("Seconds until the ticket expires")]

    def __repr__(self) -> str:
        return "EventTicketResponse(<hidden>)"


class SessionView(msgspec.Struct):
    id: Annotated[uuid.UUID, doc("The session's id")]
    device_name: Annotated[str | None, doc("What signed in: the name given, or the User-Agent")]
    created_at: Annotated[UtcDatetime, doc("When the session signed in (UTC)")]
    last_used_at: Annotated[UtcDatetime, doc("When its refresh token was last used (UTC)")]
    expires_at: Annotated[UtcDatetime, doc("When its refresh token expires (UTC)")]
    current: Annotated[bool, doc("The session of the access token asking")]


class SessionList(msgspec.Struct):
    sessions: Annotated[list[SessionView], doc("Newest first, this page")]
    total_count: Annotated[int, doc("Sessions in all")]
    has_more: Annotated[bool, doc("More sessions after this page")] = False


class DeviceView(msgspec.Struct):
    device_id: Annotated[str, doc("The id the device sends as device_id")]
    first_seen_at: Annotated[UtcDatetime, doc("Its first write or delivery (UTC)")]
    last_seen_at: Annotated[UtcDatetime, doc("Its last write or delivery (UTC)")]
    entries_written: Annotated[int, doc("Entry versions and deletions it wrote")]


class DeviceList(msgspec.Struct):
    devices: Annotated[list[DeviceView], doc("Most recently seen first, this page")]
    total_count: Annotated[int, doc("Devices in all")]
    has_more: Annotated[bool, doc("More devices after this page")] = False
