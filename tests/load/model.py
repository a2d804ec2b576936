"""What the load generator remembers of its simulated users: every accepted write, every
conflict it was answered, every metric batch; and the checks it holds the server to."""

from __future__ import annotations

import enum
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx


class Check(enum.Enum):
    """The verification's checks, with the row label the report prints."""

    LOST = "accepted writes (201 uploads, resolutions) are current or superseded"
    MISSED = "accepted edits were based on the latest revision (no missed conflict)"
    CONFLICTS = "409 conflicts are open, resolved by us, or superseded by their device"
    PROBE = "probe: a stale edit from the other device is answered 409"
    FEED = "every device's incremental pulls reached each entry's current revision"
    LISTING = "a fresh device's backups listing matches the change feed"
    RETRY = "a retried upload is answered as the first time"
    METRICS = "accepted metric batch sizes sum to the aggregate count (per user and type)"
    AGGREGATE_BOUNDS = "aggregate counts during the run within [confirmed, sent]"
    STALE_RESOLUTION = "resolutions applied on top of the revision they were listed against"

    @property
    def warning_only(self) -> bool:
        # A resolution races the other device's writes by design (the resolve route has no
        # precondition); it is reported, not failed: see the report's findings.
        return self is Check.STALE_RESOLUTION


@dataclass(frozen=True)
class Problem:
    check: Check
    user: int
    detail: str

    def __str__(self) -> str:
        return f"[{self.check.name}] user {self.user}: {self.detail}"


@dataclass(frozen=True)
class Version:
    """One encrypted version as this tool sent it (base64, as on the wire)."""

    content: str
    iv: str
    device: str
    kind: str  # "upload", "local" (resolution), "merged" (resolution)


@dataclass(frozen=True)
class Write:
    revision: int
    version: Version


@dataclass
class EntryLedger:
    """Every accepted version of one entry, by the revision the server gave it."""

    revisions: dict[int, Version] = field(default_factory=dict)
    writes: list[Write] = field(default_factory=list)


@dataclass
class ConflictRecord:
    id: str
    entry_id: str
    owner: str  # the device whose stale upload made it (the conflict's local side)
    local: Version  # that device's latest conflicting upload
    receivers: set[str] = field(default_factory=set)
    resolved: str | None = None  # local / remote / merged, when this tool resolved it
    resolved_revision: int | None = None
    superseded_revision: int | None = None  # the owner's later accepted write, if any


@dataclass
class Device:
    name: str
    user: UserSim
    client: httpx.AsyncClient
    rng: random.Random
    headers: dict[str, str] = field(default_factory=dict)
    known: dict[str, int] = field(default_factory=dict)  # newest revision received or written
    feed_known: dict[str, int] = field(default_factory=dict)  # newest seen in the change feed
    cursor: str | None = None
    open_conflicts: dict[str, str] = field(default_factory=dict)  # entry id -> conflict id
    backups_since: datetime | None = None
    ops: int = 0


@dataclass
class UserSim:
    index: int
    email: str
    password: str
    id: str = ""
    devices: list[Device] = field(default_factory=list)
    entries: dict[str, EntryLedger] = field(default_factory=dict)
    conflicts: dict[str, ConflictRecord] = field(default_factory=dict)
    hot: list[str] = field(default_factory=list)  # entries both devices keep editing
    # Entries with an upload whose answer never came: the server may hold a revision we
    # cannot know, so their revision history is not checked strictly.
    uncertain_entries: set[str] = field(default_factory=set)
    metrics_confirmed: Counter[str] = field(default_factory=Counter)
    metrics_sent: Counter[str] = field(default_factory=Counter)
    metrics_uncertain: Counter[str] = field(default_factory=Counter)

    def ledger(self, entry_id: str) -> EntryLedger:
        return self.entries.setdefault(entry_id, EntryLedger())
