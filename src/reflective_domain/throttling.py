"""Password-guess throttling and request rate limits, both counted in one store.

Keys are SHA-256 digests of what they count (a normalised email, a client address, the pair of
both, a route and a user), so the store never holds the emails people typed or where they came
from.

Sign-in throttling never lets one party's failures refuse another's right password:

- **pair** (account, address): the few wrong guesses of one address against one account lock
  that pair only, with a lockout that doubles from ``base_lockout`` up to ``max_lockout``;
- **address**: one address guessing across many accounts is locked on all of them;
- **account**: a high limit that only sustained, distributed guessing reaches.

An address that has signed in to an account before (a ``trusted`` pair) is spared the address
and account locks, so the owner keeps signing in from their usual places while a botnet guesses
or while someone else behind the same address (a NAT, a proxy) guesses other accounts. It is
never spared its pair's own lock: a trusted address still gets only a few guesses.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum


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
    def per_pair(cls) -> ThrottlePolicy:
        return cls(max_failures=5)

    @classmethod
    def per_address(cls) -> ThrottlePolicy:
        return cls(max_failures=30)

    @classmethod
    def per_account(cls) -> ThrottlePolicy:
        return cls(max_failures=100, window=timedelta(hours=1))


@dataclass(slots=True)
class LoginAttempts:
    """A counter: failures (or, for a rate limit, requests) since ``window_started_at``."""

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
        return _seconds(self.locked_until - now)

    def record_failure(self, now: datetime, policy: ThrottlePolicy) -> None:
        if now - self.window_started_at > policy.window and self.retry_after(now) is None:
            self.failures = 0
            self.window_started_at = now
        self.failures += 1
        over = self.failures - policy.max_failures
        if over >= 0:
            lockout = min(policy.base_lockout * (2 ** min(over, 20)), policy.max_lockout)
            self.locked_until = now + lockout


def _seconds(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))


class Scope(Enum):
    PAIR = "pair"
    ADDRESS = "address"
    ACCOUNT = "account"


@dataclass(frozen=True, slots=True)
class SignInThrottle:
    """The three limits of password checks, and how long a successful address stays trusted."""

    pair: ThrottlePolicy = field(default_factory=ThrottlePolicy.per_pair)
    address: ThrottlePolicy = field(default_factory=ThrottlePolicy.per_address)
    account: ThrottlePolicy = field(default_factory=ThrottlePolicy.per_account)
    trust_for: timedelta = timedelta(days=90)

    def keys(self, account: str, address: str | None) -> dict[Scope, bytes]:
        """The counters a password check for ``account`` from ``address`` touches."""
        where = address or ""
        keys = {
            Scope.PAIR: throttle_key("pair", f"{account}\n{where}"),
            Scope.ACCOUNT: throttle_key("account", account),
        }
        if address:
            keys[Scope.ADDRESS] = throttle_key("address", address)
        return keys

    @property
    def retention(self) -> timedelta:
        """How long any counter or marker can matter: older ones may be deleted."""
        return max(self.trust_for, self.pair.window, self.address.window, self.account.window)

    def trust_key(self, account: str, address: str | None) -> bytes:
        return throttle_key("trusted", f"{account}\n{address or ''}")

    def policy(self, scope: Scope) -> ThrottlePolicy:
        return {Scope.PAIR: self.pair, Scope.ADDRESS: self.address, Scope.ACCOUNT: self.account}[
            scope
        ]

    def is_trusted(self, marker: LoginAttempts | None, now: datetime) -> bool:
        """A marker is written on each successful check from the pair; it lasts ``trust_for``."""
        return marker is not None and now - marker.window_started_at <= self.trust_for

    def retry_after(
        self,
        counters: dict[Scope, LoginAttempts | None],
        trusted: bool,
        now: datetime,
    ) -> int | None:
        """Seconds to wait before this pair may check a password, or None when it may now.
        The address and account locks do not hold for a trusted pair."""
        waits = []
        for scope, attempts in counters.items():
            if attempts is None or (scope is not Scope.PAIR and trusted):
                continue
            wait = attempts.retry_after(now)
            if wait is not None:
                waits.append(wait)
        return max(waits) if waits else None


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``max_requests`` per ``window`` (a fixed window that starts at the first
    request after the previous one ended)."""

    max_requests: int
    window: timedelta

    def hit(self, counter: LoginAttempts, now: datetime) -> int | None:
        """Count one request; answer the seconds to wait when it is over the limit (and then
        it is not counted), or None when it may go ahead."""
        ends = counter.window_started_at + self.window
        if now >= ends or now < counter.window_started_at:
            counter.failures = 0
            counter.window_started_at = now
            ends = now + self.window
        if counter.failures >= self.max_requests:
            counter.locked_until = ends
            return _seconds(ends - now)
        counter.failures += 1
        return None
