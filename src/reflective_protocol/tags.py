"""Tags."""

from __future__ import annotations

import uuid

import msgspec

from reflective_protocol.common import UtcDatetime


class TagView(msgspec.Struct):
    id: uuid.UUID
    name: str
    color: str
    created_at: UtcDatetime
    last_used_at: UtcDatetime | None


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
