"""Query and path parameters that several routes share, each with its description and the
range the server enforces stated in the schema (``schema_extra``). The domain's rules enforce
them, with their own messages: a framework constraint (``ge=``, ``le=``) would answer a
different 422."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar.params import Parameter

from reflective_domain.entries import MAX_DEVICE_ID
from reflective_domain.errors import ResyncRequired
from reflective_domain.use_cases.sync import MAX_PAGE

Offset = Annotated[
    int, Parameter(description="Items to skip before this page", schema_extra={"minimum": 0})
]
PageLimit = Annotated[
    int,
    Parameter(
        description=f"Items per page, 1..{MAX_PAGE}",
        schema_extra={"minimum": 1, "maximum": MAX_PAGE},
    ),
]
DeviceId = Annotated[
    str | None,
    Parameter(
        description=f"The asking device (1..{MAX_DEVICE_ID} characters): its own writes are "
        "left out, and what it is sent counts as seen by it",
        schema_extra={"min_length": 1, "max_length": MAX_DEVICE_ID},
    ),
]
MAX_CURSOR_DIGITS = 18  # every change sequence a bigint can hold with room to spare
CURSOR_PATTERN = f"^[0-9]{{1,{MAX_CURSOR_DIGITS}}}$"
UNKNOWN_CURSOR = "Unknown cursor: resync from the beginning"


def cursor_position(value: str) -> int:
    """A cursor this server could have issued (the change feed's ``cursor``, an event's id
    as Last-Event-ID), as its sequence number; ResyncRequired (410) for anything else: ASCII
    digits only ("²".isdigit() is true) and within a bigint (int() of thousands of digits
    raises)."""
    if not (value.isascii() and value.isdigit()) or len(value) > MAX_CURSOR_DIGITS:
        raise ResyncRequired(UNKNOWN_CURSOR)
    return int(value)


EntryId = Annotated[uuid.UUID, Parameter(description="The entry's id")]
ConflictId = Annotated[uuid.UUID, Parameter(description="The conflict's id")]
TagId = Annotated[uuid.UUID, Parameter(description="The tag's id")]
SessionId = Annotated[uuid.UUID, Parameter(description="The session's id")]
