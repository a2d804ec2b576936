"""The clock and id generator the server runs with."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone


class SystemClock:
    """The real time, always timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class Uuid4Ids:
    """Random UUIDs: unguessable, so an id reveals nothing about other users' rows."""

    def new_id(self) -> uuid.UUID:
        return uuid.uuid4()
