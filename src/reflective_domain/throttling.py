"""Login throttling: failures per account and per client address, with growing lockouts.

Keys are SHA-256 digests of what they count (a normalised email, a client address), so the
store never holds the emails people typed or where they came from.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta


def throttle_key(kind: str, value: str) -> bytes:
    return hashlib.sha256(f"{kind}:{value}".encode()).digest()


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """``max_failures`` within ``window`` lock the key; each further failure doubles the lockout
    from ``base_lockout`` up to ``max_lockout``."""

    max_failures: int
    window: timedelta = timedelta(minutes=15)
    base_lockout: timedelta = timedelta(minutes=1)
    max_lockout: timedelta = timedelta(minutes=15)

    @classmethod
    def per_account(cls) -> ThrottlePolicy:
        return cls(max_failures=5)

    @classmethod
    def per_address(cls) -> ThrottlePolicy:
        return cls(max_failures=30)


@dataclass(slots=True)
class LoginAttempts:
    key: bytes
    failures: int
    window_started_at: datetime
    locked_until: datetime | None = None

    def __repr__(self) -> str:
        return f"LoginAttempts(failures={self.failures}, locked_until={self.locked_until})"

    def retry_after(self, now: datetime) -> int | None:
        """Whole seconds until the key may try again, or None when it may try now."""
        if self.locked_until is None or self.locked_until <= now:
            return None
        return max(1, math.ceil((self.locked_until - now).total_seconds()))

    def record_failure(self, now: datetime, policy: ThrottlePolicy) -> None:
        if now - self.window_started_at > policy.window and self.retry_after(now) is None:
            self.failures = 0
            self.window_started_at = now
        self.failures += 1
        over = self.failures - policy.max_failures
        if over >= 0:
            lockout = min(policy.base_lockout * (2 ** min(over, 20)), policy.max_lockout)
            self.locked_until = now + lockout
