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

_B64 = "[A-Za-z0-9+/]"
IV_PATTERN = f"^(?:{_B64}{{16}}|{_B64}{{22}}==)$"
"""Standard base64 of 12 or 16 bytes: an AES-GCM nonce."""
TAG_PATTERN = f"^{_B64}{{22}}==$"
"""Standard base64 of 16 bytes: an AES-GCM authentication tag."""

_KEYWORDS = {
    "min_length": "minLength",
    "max_length": "maxLength",
    "ge": "minimum",
    "le": "maximum",
    "max_properties": "maxProperties",
}


def doc(description: str, examples: list[Any] | None = None, **limits: Any) -> msgspec.Meta:
    """A field's documentation: what it is for people, and the limits the server enforces
    (``max_length=``, ``ge=``, ``pattern=``, ...), stated in the schema only. The server's
    own rules (the domain's value objects) enforce them, with messages written for people;
    a msgspec constraint would replace those messages and the ``loc`` clients see."""
    schema = {_KEYWORDS.get(name, name): value for name, value in limits.items()}
    if examples is not None:
        return msgspec.Meta(description=description, examples=examples, extra_json_schema=schema)
    return msgspec.Meta(description=description, extra_json_schema=schema)


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

    success: Annotated[bool, doc("Always true on a 2xx answer")]
    message: Annotated[str, doc("What was done, written for a person")]
    details: Annotated[dict[str, Any], doc("Figures and ids of what was done, per route")] = (
        msgspec.field(default_factory=dict)
    )


class ErrorItem(msgspec.Struct):
    """One validation problem: where (``loc``), what (``msg``) and its kind (``type``)."""

    loc: Annotated[list[str | int], doc("Where: the source, then field names and indexes")]
    msg: Annotated[str, doc("What is wrong, written for a person")]
    type: Annotated[str, doc("The kind of problem")]
