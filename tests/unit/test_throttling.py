"""Password-guess throttling and rate limits: the pure rules, then the use cases on memory."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reflective_app.container import Container
from reflective_domain.errors import AuthenticationFailed, TooManyAttempts
from reflective_domain.throttling import (
    LoginAttempts,
    RateLimit,
    Scope,
    SignInThrottle,
    ThrottlePolicy,
)
from reflective_domain.use_cases.accounts import ProfileChanges, SignIn
from tests.composition import new_user

UTC = timezone.utc
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

# --- the pure rules ------------------------------------------------------------------------


class _Store:
    """Counters by key, driven the way PasswordGate drives them."""

    def __init__(self, throttle: SignInThrottle) -> None:
        self.throttle = throttle
        self.rows: dict[bytes, LoginAttempts] = {}

    def wait(self, account: str, address: str, now: datetime) -> int | None:
        keys = self.throttle.keys(account, address)
        counters = {scope: self.rows.get(key) for scope, key in keys.items()}
        trusted = self.throttle.is_trusted(
            self.rows.get(self.throttle.trust_key(account, address)), now
        )
        return self.throttle.retry_after(counters, trusted, now)

    def attempt(self, account: str, address: str, ok: bool, now: datetime) -> str:
        if self.wait(account, address, now) is not None:
            return "refused"
        keys = self.throttle.keys(account, address)
        if ok:
            self.rows.pop(keys[Scope.PAIR], None)
            trust = self.throttle.trust_key(account, address)
            self.rows[trust] = LoginAttempts(trust, 0, now)
            return "in"
        for scope, key in keys.items():
            row = self.rows.setdefault(key, LoginAttempts(key, 0, now))
            row.record_failure(now, self.throttle.policy(scope))
        return "failed"


attacks = st.lists(
    st.tuples(
        st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]),  # attacker addresses
        st.integers(min_value=0, max_value=120),  # seconds since the previous step
    ),
    max_size=150,
)


@settings(max_examples=200, deadline=None)
@given(attacks, st.booleans())
def test_the_owners_right_password_is_never_refused_for_others_failures(attack, first_ok):
    """Whatever attackers at other addresses do, the owner signing in from an address they
    used before gets in; with a small account limit too (the account lock spares them)."""
    throttle = SignInThrottle(account=ThrottlePolicy(max_failures=10))
    store = _Store(throttle)
    now = T0
    assert store.attempt("ada@example.com", "192.0.2.7", ok=True, now=now) == "in"
    for address, gap in attack:
        now += timedelta(seconds=gap)
        store.attempt("ada@example.com", address, ok=False, now=now)
        assert store.attempt("ada@example.com", "192.0.2.7", ok=True, now=now) == "in"


@settings(max_examples=200, deadline=None)
@given(attacks)
def test_one_address_never_reaches_the_account_limit(attack):
    """One address alone is locked (per pair, then per address) long before the account-wide
    limit: the owner from a new address is not refused because of it."""
    store = _Store(SignInThrottle())
    now = T0
    for _, gap in attack:
        now += timedelta(seconds=gap)
        store.attempt("ada@example.com", "10.0.0.9", ok=False, now=now)
        assert store.attempt("ada@example.com", "198.51.100.1", ok=True, now=now) == "in"


def test_a_pair_locks_after_five_failures_with_growing_lockouts():
    policy = ThrottlePolicy.per_pair()
    row = LoginAttempts(b"k", 0, T0)
    for _ in range(4):
        row.record_failure(T0, policy)
    assert row.retry_after(T0) is None
    row.record_failure(T0, policy)
    first = row.retry_after(T0)
    later = T0 + timedelta(seconds=first or 0)
    row.record_failure(later, policy)
    assert first == 60 and row.retry_after(later) == 120


def test_distributed_guessing_locks_the_account_for_untrusted_addresses_only():
    throttle = SignInThrottle(account=ThrottlePolicy(max_failures=10))
    store = _Store(throttle)
    store.attempt("ada@example.com", "192.0.2.7", ok=True, now=T0)
    for n in range(10):
        store.attempt("ada@example.com", f"10.0.1.{n}", ok=False, now=T0)
    assert store.wait("ada@example.com", "203.0.113.5", T0) is not None  # a new address waits
    assert store.wait("ada@example.com", "192.0.2.7", T0) is None  # the owner's does not


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=30), max_size=200))
def test_a_rate_limit_admits_at_most_its_maximum_per_window(gaps):
    limit = RateLimit(max_requests=5, window=timedelta(seconds=60))
    row = LoginAttempts(b"r", 0, T0)
    now = T0
    admitted: dict[datetime, int] = {}
    for gap in gaps:
        now += timedelta(seconds=gap)
        wait = limit.hit(row, now)
        if wait is None:
            admitted[row.window_started_at] = admitted.get(row.window_started_at, 0) + 1
            assert row.window_started_at <= now < row.window_started_at + limit.window
        else:
            assert 1 <= wait <= 60
    assert all(count <= limit.max_requests for count in admitted.values())


def test_a_rate_limit_refuses_beyond_the_maximum_then_reopens():
    limit = RateLimit(max_requests=2, window=timedelta(seconds=60))
    row = LoginAttempts(b"r", 0, T0)
    assert limit.hit(row, T0) is None and limit.hit(row, T0) is None
    assert limit.hit(row, T0 + timedelta(seconds=15)) == 45
    assert limit.hit(row, T0 + timedelta(seconds=60)) is None


# --- the use cases ------------------------------------------------------------------------


def _sign_in(container: Container, throttle: SignInThrottle) -> SignIn:
    return SignIn(
        container.uow_factory(),
        container.hasher(),
        container.tokens(),
        container.clock(),
        container.ids(),
        None,
        throttle,
    )


async def test_owner_signs_in_while_an_attacker_keeps_failing(container: Container) -> None:
    await new_user(container, "ada@example.com")
    sign_in = _sign_in(container, SignInThrottle())
    for _ in range(40):
        with pytest.raises((AuthenticationFailed, TooManyAttempts)):
            await sign_in("ada@example.com", "guess guess", "10.0.0.66")
    with pytest.raises(TooManyAttempts):
        await sign_in("ada@example.com", "correct horse battery", "10.0.0.66")
    assert await sign_in("ada@example.com", "correct horse battery", "192.0.2.7")


async def test_password_checks_on_the_profile_count_toward_sign_in(container: Container) -> None:
    uid = await new_user(container, "ada@example.com")
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            await container.update_profile()(
                uid, ProfileChanges(current_password="guess guess", password="new password!"), "x"
            )
    with pytest.raises(TooManyAttempts):
        await container.delete_account()(uid, "correct horse battery", "x")
    with pytest.raises(TooManyAttempts):
        await container.sign_in()("ada@example.com", "correct horse battery", "x")


def test_a_trusted_address_is_spared_the_address_lock_but_not_its_pair_lock():
    """Behind one NAT: someone guessing other accounts locks the address, but not for the
    owner who signed in from it before; the owner's own pair still locks on wrong guesses."""
    store = _Store(SignInThrottle())
    store.attempt("ada@example.com", "198.51.100.9", ok=True, now=T0)
    for n in range(30):
        store.attempt(f"user{n}@example.com", "198.51.100.9", ok=False, now=T0)
    assert store.wait("bob@example.com", "198.51.100.9", T0) is not None
    assert store.attempt("ada@example.com", "198.51.100.9", ok=True, now=T0) == "in"
    for _ in range(5):
        store.attempt("ada@example.com", "198.51.100.9", ok=False, now=T0)
    assert store.wait("ada@example.com", "198.51.100.9", T0) is not None
