"""Tags."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec


class TagView(msgspec.Struct):
    id: uuid.UUID
    name: str
    color: str
    created_at: datetime
    last_used_at: datetime | None


class CreateTagRequest(msgspec.Struct, omit_defaults=True):
    """``color`` is ``#RRGGBB``; a stable colour is chosen from the name when absent."""

    name: str
    color: str | None = None


class UpdateTagRequest(msgspec.Struct, omit_defaults=True):
    """Rename and/or recolour; ``used: true`` marks the tag as used now."""

    name: str | None = None
    color: str | None = None
    used: bool = False


class CleanupResponse(msgspec.Struct):
    message: str
    deleted_count: int
