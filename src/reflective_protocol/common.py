"""Field types and small Structs every part of the protocol uses."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

import msgspec

# Timestamps must say their offset (Z or +hh:mm); answers are always UTC with Z.
AwareDatetime = Annotated[
    datetime,
    msgspec.Meta(tz=True, description="ISO-8601 timestamp with Z or an offset"),
]
# What the server answers: always UTC, written with Z.
UtcDatetime = Annotated[datetime, msgspec.Meta(tz=True, description="ISO-8601 timestamp, UTC (Z)")]
# msgspec decodes `bytes` from standard, padded base64 and rejects anything else.
Base64 = Annotated[bytes, msgspec.Meta(description="standard base64")]


# A day inside datetime's range at each end, so every timezone can show any accepted time:
# year 1 with a positive offset, or 9999 with a negative one, has no UTC equivalent at all.
EARLIEST = datetime(1, 1, 2, tzinfo=timezone.utc)
LATEST = datetime(9999, 12, 30, tzinfo=timezone.utc)
OUT_OF_RANGE = "is out of range (0001-01-02 to 9999-12-30 UTC)"


def in_range(moment: datetime) -> bool:
    try:
        return EARLIEST <= moment.astimezone(timezone.utc) <= LATEST
    except OverflowError:
        return False


def check_moments(**moments: datetime | None) -> None:
    """For a Struct's ``__post_init__``: a ValueError (so msgspec answers 422) naming the
    first timestamp out of range."""
    for field, moment in moments.items():
        if moment is not None and not in_range(moment):
            raise ValueError(f"{field} {OUT_OF_RANGE}")


class Message(msgspec.Struct):
    """A plain acknowledgement."""

    success: bool
    message: str
    details: dict[str, Any] = msgspec.field(default_factory=dict)


class ErrorItem(msgspec.Struct):
    """One validation problem: where (``loc``), what (``msg``) and its kind (``type``)."""

    loc: list[str | int]
    msg: str
    type: str
