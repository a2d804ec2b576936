"""Tags."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec

from reflective_protocol.common import UtcDatetime, doc

# The tag rules (reflective_domain.tags) enforce these; stated here for the schema. The
# name's 100 characters are counted after NFKC and folding its whitespace.
NAME = doc(
    "The tag's name, 1..100 characters once trimmed; unique per user regardless of case "
    "and spacing",
    ["gratitude"],
    min_length=1,
    max_length=100,
    pattern=r"\S",
)
COLOR_PATTERN = "^#[0-9A-Fa-f]{6}$"


class TagView(msgspec.Struct):
    id: Annotated[uuid.UUID, doc("The tag's id")]
    name: Annotated[str, doc("The tag's name as shown")]
    color: Annotated[str, doc("#RRGGBB, upper-case")]
    created_at: Annotated[UtcDatetime, doc("When the tag was created (UTC)")]
    last_used_at: Annotated[UtcDatetime | None, doc("When the tag was last used (UTC)")]


class CreateTagRequest(msgspec.Struct, omit_defaults=True):
    """``color`` is ``#RRGGBB``; a stable colour is chosen from the name when absent."""

    name: Annotated[str, NAME]
    color: Annotated[
        str | None,
        doc("#RRGGBB; absent: chosen from the name", ["#4A90D9"], pattern=COLOR_PATTERN),
    ] = None


class UpdateTagRequest(msgspec.Struct, omit_defaults=True):
    """Rename and/or recolour; ``used: true`` marks the tag as used now."""

    name: Annotated[str | None, NAME] = None
    color: Annotated[str | None, doc("A new colour, #RRGGBB", pattern=COLOR_PATTERN)] = None
    used: Annotated[bool, doc("true: mark the tag as used now")] = False


class CleanupResponse(msgspec.Struct):
    message: Annotated[str, doc("What was done, written for a person")]
    deleted_count: Annotated[int, doc("Tags deleted")]
