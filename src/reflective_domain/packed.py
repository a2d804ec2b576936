"""Packed metrics: one CKKS ciphertext holds a whole calendar year of one metric type.

Layout (the same for every parameter set with at least 732 slots, i.e. poly degree >= 2048):
slot ``d`` holds the sum of the values of day ``d`` of the UTC year (1 January is slot 0,
31 December slot 364 or 365), slot ``COUNT_OFFSET + d`` the number of entries of that day.
The server adds ciphertexts of the same year slot-wise and never learns a day; the client
decrypts a year and sums the slots of the days it asked for.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date

from reflective_domain.errors import ValidationFailed
from reflective_domain.metrics import check_metric_type

DAYS_PER_WINDOW = 366
COUNT_OFFSET = DAYS_PER_WINDOW
"""Slot of day 0's entry count; the counts of a year follow its values."""
SLOTS_USED = 2 * DAYS_PER_WINDOW

FIRST_YEAR, LAST_YEAR = 1, 9999

PACKED_ROW_OVERHEAD_BYTES = 128
"""What one stored window costs beyond its ciphertext, for the quota."""
PACKED_UPLOAD_KEY_BYTES = 64
"""What one remembered upload (its SHA-256 and row) costs, for the quota."""

MAX_PACKED_PER_REQUEST = 256


def check_year(year: int) -> int:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValidationFailed("year", f"year must be {FIRST_YEAR}..{LAST_YEAR}")
    return year


def slot_of(day: date) -> int:
    """The value slot of a UTC day inside its year's window."""
    return day.timetuple().tm_yday - 1


def day_of(year: int, slot: int) -> date:
    return date.fromordinal(date(year, 1, 1).toordinal() + slot)


def days_in(year: int) -> int:
    return (date(year, 12, 31) - date(year, 1, 1)).days + 1


@dataclass(frozen=True, slots=True)
class PackedWindow:
    """The encrypted slot-wise sum of every packed upload of one metric type and year, and
    how many uploads it holds."""

    user_id: uuid.UUID
    metric_type: str
    year: int
    uploads: int
    ciphertext: bytes

    def __post_init__(self) -> None:
        check_metric_type(self.metric_type)
        check_year(self.year)

    def __repr__(self) -> str:
        return (
            f"PackedWindow({self.metric_type!r}, {self.year}, uploads={self.uploads}, "
            f"<{len(self.ciphertext)} bytes>)"
        )


def window_bytes(window: PackedWindow) -> int:
    """How much of a user's metric quota one stored window uses."""
    return len(window.ciphertext) + PACKED_ROW_OVERHEAD_BYTES


def packed_upload_key(metric_type: str, year: int, ciphertext: bytes) -> bytes:
    """What makes a packed upload the same upload: encryption is randomized, so equal bytes
    for the same type and year are a resend, never a second delta."""
    h = hashlib.sha256()
    for part in (metric_type.encode(), str(year).encode(), ciphertext):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.digest()
