"""The sessions a user can see and end: one per sign-in (its refresh-token family)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from reflective_domain.errors import NotFound
from reflective_domain.ports import Clock
from reflective_domain.ports.unit_of_work import UnitOfWorkFactory
from reflective_domain.sessions import Session
from reflective_domain.use_cases._guards import check_caller
from reflective_domain.use_cases.sync import DEFAULT_PAGE, check_offset, check_page_size

UNKNOWN_SESSION = "Session not found"


@dataclass(frozen=True, slots=True)
class SessionPage:
    sessions: list[Session]
    has_more: bool
    total_count: int


class ListSessions:
    """The user's live sessions (those that can still be refreshed), newest first, a page at
    a time: every sign-in adds one."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow, self._clock = uow, clock

    async def __call__(
        self,
        user_id: uuid.UUID,
        limit: int = DEFAULT_PAGE,
        offset: int = 0,
        *,
        token_issued_at: datetime | None = None,
    ) -> SessionPage:
        check_page_size(limit)
        check_offset(offset)
        now = self._clock.now()
        async with self._uow() as uow:
            await check_caller(uow, user_id, token_issued_at)
            tokens = await uow.refresh_tokens.live(user_id, now, limit=limit, offset=offset)
            total = await uow.refresh_tokens.count_live(user_id, now)
        sessions = [Session.of(token) for token in tokens]
        return SessionPage(sessions, offset + len(sessions) < total, total)


class EndSession:
    """End one of the user's sessions: its refresh tokens are refused from now on. Access
    tokens already issued in it stay valid until they expire (ACCESS_TOKEN_EXPIRE_MINUTES).
    Another user's session, or one already ended, is NotFound."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow, self._clock = uow, clock

    async def __call__(
        self, user_id: uuid.UUID, session_id: uuid.UUID, *, token_issued_at: datetime | None = None
    ) -> None:
        now = self._clock.now()
        async with self._uow() as uow:
            await check_caller(uow, user_id, token_issued_at)
            live = await uow.refresh_tokens.live(user_id, now)
            if not any(token.family_id == session_id for token in live):
                raise NotFound(UNKNOWN_SESSION)
            await uow.refresh_tokens.revoke_family(session_id, now)
            await uow.commit()
