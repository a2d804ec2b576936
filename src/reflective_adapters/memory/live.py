"""Event tickets in memory (one process), for unit tests and running use cases without a
database."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from reflective_domain.live import EventTicket, TooManyStreams


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

    def __len__(self) -> int:
        return len(self._tickets)


class MemoryStreamSlots:
    """Stream slots of one process; tickets are redeemed from ``tickets``. No accounts here:
    ``token_issued_at`` is the PostgreSQL adapter's to check against the account."""

    def __init__(self, tickets: MemoryTicketStore | None = None) -> None:
        self._tickets = tickets if tickets is not None else MemoryTicketStore()
        # slot id -> (user, holder, seen at)
        self._slots: dict[uuid.UUID, tuple[uuid.UUID, str, datetime]] = {}

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
        for key in [k for k, s in self._slots.items() if s[0] == user_id and s[2] < stale_before]:
            del self._slots[key]
        if sum(1 for s in self._slots.values() if s[0] == user_id) >= cap:
            return None
        slot = uuid.uuid4()
        self._slots[slot] = (user_id, holder, now)
        return slot

    async def claim_with_ticket(
        self, token_hash: bytes, holder: str, cap: int, now: datetime, stale_before: datetime
    ) -> tuple[uuid.UUID, uuid.UUID] | None:
        ticket = self._tickets._tickets.get(token_hash)
        if ticket is None or ticket.expires_at <= now:
            self._tickets._tickets.pop(token_hash, None)
            return None
        slot = await self.claim(ticket.user_id, holder, cap, now, stale_before)
        if slot is None:
            raise TooManyStreams("Too many open event streams")
        del self._tickets._tickets[token_hash]
        return ticket.user_id, slot

    async def release(self, slot_id: uuid.UUID) -> None:
        self._slots.pop(slot_id, None)

    async def refresh(
        self, holder: str, live: Sequence[tuple[uuid.UUID, uuid.UUID]], now: datetime
    ) -> None:
        # Like PostgreSQL's upsert: a pruned slot of an open stream comes back.
        for slot, user_id in live:
            self._slots[slot] = (user_id, holder, now)

    def __len__(self) -> int:
        return len(self._slots)
