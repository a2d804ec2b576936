"""Wire formats: base64 and timestamps the way docs/API_CONTRACT.md writes them."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timezone
from typing import Any

UTC = timezone.utc


def b64(data: bytes) -> str:
    """Standard, padded base64 (the contract's binary encoding)."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not standard base64") from exc


def unb64_or_none(text: Any) -> bytes | None:
    return None if text is None else unb64(str(text))


def parse_time(text: str) -> datetime:
    """ISO-8601 with Z or an offset (Python 3.10's fromisoformat does not take Z)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("timestamp without a timezone")
    return moment.astimezone(UTC)


def parse_time_or_none(text: Any) -> datetime | None:
    return None if text is None else parse_time(str(text))


def format_time(moment: datetime) -> str:
    """UTC with Z and milliseconds, like the web client's ``toISOString()``."""
    if moment.tzinfo is None:
        raise ValueError("timestamp without a timezone")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def now() -> datetime:
    """Now, UTC, at millisecond precision: what survives a round trip through ``format_time``."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
