"""Tags."""

from __future__ import annotations

from reflective_app.dto.common import as_utc, as_utc_or_none
from reflective_domain.tags import Tag
from reflective_protocol.tags import TagView


def tag_view(tag: Tag) -> TagView:
    return TagView(
        id=tag.id,
        name=tag.name,
        color=tag.color,
        created_at=as_utc(tag.created_at),
        last_used_at=as_utc_or_none(tag.last_used_at),
    )
