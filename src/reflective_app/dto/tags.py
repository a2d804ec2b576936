"""Tags."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

from reflective_app.dto.common import as_utc, as_utc_or_none
from reflective_domain.tags import Tag


class TagView(msgspec.Struct):
    id: uuid.UUID
    name: str
    color: str
    created_at: datetime
    last_used_at: datetime | None

    @classmethod
    def of(cls, tag: Tag) -> TagView:
        return cls(
            id=tag.id,
            name=tag.name,
            color=tag.color,
            created_at=as_utc(tag.created_at),
            last_used_at=as_utc_or_none(tag.last_used_at),
        )


class CreateTagRequest(msgspec.Struct):
    """``color`` is ``#RRGGBB``; a stable colour is chosen from the name when absent."""

    name: str
    color: str | None = None


class UpdateTagRequest(msgspec.Struct):
    """Rename and/or recolour; ``used: true`` marks the tag as used now."""

    name: str | None = None
    color: str | None = None
    used: bool = False


class CleanupResponse(msgspec.Struct):
    message: str
    deleted_count: int
