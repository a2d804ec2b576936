"""Event tickets in memory (one process), for unit tests and running use cases without a
database."""

from __future__ import annotations

import uuid
from datetime import datetime

from reflective_domain.live import EventTicket


class MemoryTicketStore:
    def __init__(self) -> None:
        self._tickets: dict[bytes, EventTicket] = {}

    async def add(
        self, ticket: EventTicket, now: datetime, *, token_issued_at: datetime | None = None
    ) -> None:
        # No accounts here: the token's check is the PostgreSQL store's (and the use cases').
        for key in [k for k, t in self._tickets.items() if t.expires_at <= now]:
            del self._tickets[key]
        self._tickets[ticket.token_hash] = ticket

    async def redeem(self, token_hash: bytes, now: datetime) -> uuid.UUID | None:
        ticket = self._tickets.pop(token_hash, None)
        if ticket is None or ticket.expires_at <= now:
            return None
        return ticket.user_id

    def __len__(self) -> int:
        return len(self._tickets)
