"""Conversions shared by the mapping modules."""

from __future__ import annotations

from datetime import datetime, timezone

from reflective_domain.errors import ValidationFailed
from reflective_protocol.common import OUT_OF_RANGE, in_range


def require_offset(field: str, moment: datetime | None) -> datetime | None:
    """Query parameters cannot carry msgspec's ``tz=True``: refuse a naive time here."""
    if moment is not None and moment.tzinfo is None:
        raise ValidationFailed(field, f"{field} needs a timezone (Z or an offset)")
    if moment is not None and not in_range(moment):
        raise ValidationFailed(field, f"{field} {OUT_OF_RANGE}")
    return moment


def as_utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc)


def as_utc_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)
