"""Live sync, sessions and devices."""

from __future__ import annotations

import uuid
from datetime import datetime

from reflective_app.dto.common import as_utc
from reflective_domain.live import IssuedTicket, SyncDevice
from reflective_domain.sessions import Session
from reflective_protocol.live import DeviceView, EventTicketResponse, SessionView


def event_ticket(issued: IssuedTicket, now: datetime) -> EventTicketResponse:
    seconds = max(0, int((issued.expires_at - now).total_seconds()))
    return EventTicketResponse(issued.ticket, as_utc(issued.expires_at), seconds)


def session_view(session: Session, current: uuid.UUID | None) -> SessionView:
    return SessionView(
        id=session.id,
        device_name=session.device_name,
        created_at=as_utc(session.created_at),
        last_used_at=as_utc(session.last_used_at),
        expires_at=as_utc(session.expires_at),
        current=session.id == current,
    )


def device_view(device: SyncDevice) -> DeviceView:
    return DeviceView(
        device_id=device.device_id,
        first_seen_at=as_utc(device.first_seen_at),
        last_seen_at=as_utc(device.last_seen_at),
        entries_written=device.entries_written,
    )
