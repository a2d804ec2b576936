"""Tags: per user, deduplicated by normalised name, with a colour and a staleness rule."""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from reflective_domain.accounts import check_colour
from reflective_domain.entries import ROW_OVERHEAD_BYTES
from reflective_domain.errors import ValidationFailed

MAX_TAG_NAME = 100


def normalise_tag_name(raw: str) -> str:
    """The key two tags are the same by: NFKC, trimmed, inner whitespace folded, case-folded."""
    name = " ".join(unicodedata.normalize("NFKC", raw).split())
    if not name:
        raise ValidationFailed("name", "tag name is empty")
    if len(name) > MAX_TAG_NAME:
        raise ValidationFailed("name", f"tag name must have at most {MAX_TAG_NAME} characters")
    return name.casefold()


def display_tag_name(raw: str) -> str:
    """The name as shown: trimmed and whitespace-folded, case kept."""
    name = " ".join(unicodedata.normalize("NFKC", raw).split())
    normalise_tag_name(name)
    return name


def tag_size(name: str, color: str, key: str | None = None) -> int:
    """What one tag row counts against the storage quota (with entries, conflicts and kept
    versions): its name, the key it is found by, its colour, and the overhead of any row.
    ``key``: the key as stored, when pricing a stored row (so a later change of the
    normalisation cannot price a row differently from when it was counted)."""
    key = normalise_tag_name(name) if key is None else key
    return ROW_OVERHEAD_BYTES + len(name.encode()) + len(key.encode()) + len(color.encode())


def colour_for(name: str) -> str:
    """A stable colour for a tag with none given: the same name always gets the same colour."""
    digest = hashlib.sha256(normalise_tag_name(name).encode()).digest()
    # Keep channels in 0x40..0xBF so the colour reads on light and dark themes.
    r, g, b = (0x40 + byte % 0x80 for byte in digest[:3])
    return f"#{r:02X}{g:02X}{b:02X}"


@dataclass(slots=True)
class Tag:
    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    color: str
    created_at: datetime
    last_used_at: datetime | None = None

    @property
    def key(self) -> str:
        return normalise_tag_name(self.name)

    @property
    def size(self) -> int:
        return tag_size(self.name, self.color)

    @classmethod
    def new(
        cls, tag_id: uuid.UUID, user_id: uuid.UUID, name: str, color: str | None, now: datetime
    ) -> Tag:
        shown = display_tag_name(name)
        return cls(
            id=tag_id,
            user_id=user_id,
            name=shown,
            color=check_colour(color) if color else colour_for(shown),
            created_at=now,
            last_used_at=now,
        )

    def rename(self, name: str) -> None:
        self.name = display_tag_name(name)

    def recolour(self, color: str) -> None:
        self.color = check_colour(color)

    def mark_used(self, now: datetime) -> None:
        self.last_used_at = now

    def is_stale(self, now: datetime, days: int) -> bool:
        """Unused for at least ``days`` days (a tag never used counts from its creation)."""
        return (self.last_used_at or self.created_at) <= now - timedelta(days=days)


MAX_TAGS_PER_USER = 1000
MAX_TAG_PAGE = 1000


def check_tag_page(limit: int, offset: int) -> None:
    if limit < 1 or limit > MAX_TAG_PAGE:
        raise ValidationFailed("limit", f"limit must be between 1 and {MAX_TAG_PAGE}")
    if offset < 0:
        raise ValidationFailed("offset", "offset must not be negative")


def check_cleanup_days(days: int) -> int:
    if days < 1 or days > 36_500:
        raise ValidationFailed("days", "days must be between 1 and 36500")
    return days


def deduplicate(tags: Iterable[Tag]) -> list[Tag]:
    """One tag per user and normalised name: the earliest created wins (ties by id), keeping the
    latest ``last_used_at`` of the group. Idempotent and independent of input order."""
    groups: dict[tuple[uuid.UUID, str], list[Tag]] = {}
    for tag in tags:
        groups.setdefault((tag.user_id, tag.key), []).append(tag)
    kept: list[Tag] = []
    for group in groups.values():
        group.sort(key=lambda t: (t.created_at, t.id))
        first = group[0]
        used = [t.last_used_at for t in group if t.last_used_at is not None]
        kept.append(
            Tag(
                id=first.id,
                user_id=first.user_id,
                name=first.name,
                color=first.color,
                created_at=first.created_at,
                last_used_at=max(used) if used else None,
            )
        )
    kept.sort(key=lambda t: (str(t.user_id), t.key, t.id))
    return kept
