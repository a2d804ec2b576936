"""Register, sign in, sessions, profile, preferences, password and account deletion."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from reflective_domain.accounts import (
    Preferences,
    User,
    check_display_name,
    check_password,
    normalise_email,
)
from reflective_domain.errors import (
    AccountDisabled,
    AuthenticationFailed,
    TooManyAttempts,
    ValidationFailed,
)
from reflective_domain.ports import Clock, IdGenerator, PasswordHasher, TokenService
from reflective_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from reflective_domain.sessions import (
    RefreshToken,
    TokenPair,
    hash_refresh_token,
    session_name,
)
from reflective_domain.streaks import STREAK_WINDOW_DAYS, streak_window_start, writing_streak
from reflective_domain.throttling import LoginAttempts, Scope, SignInThrottle
from reflective_domain.use_cases._guards import load_user

WRONG_CREDENTIALS = "Incorrect email or password"
INVALID_REFRESH = "Invalid or expired refresh token"
TOO_MANY_ATTEMPTS = "Too many failed sign-in attempts; try again later"
PRUNE_BATCH = 100
TOO_MANY_PASSWORD_ATTEMPTS = "Too many wrong passwords; try again later"
CURRENT_PASSWORD_REQUIRED = "current_password is required to change the email or password"
ACCOUNT_DISABLED = "This account is disabled; ask the server's administrator"


@dataclass(frozen=True, slots=True)
class Registration:
    email: str
    password: str
    display_name: str | None = None
    timezone: str | None = None
    locale: str | None = None

    def __repr__(self) -> str:
        return "Registration(<hidden>)"


@dataclass(frozen=True, slots=True)
class Profile:
    """The user and what the server can count about them without reading anything."""

    user: User
    logs_count: int
    writing_streak: int


class Register:
    def __init__(
        self, uow: UnitOfWorkFactory, hasher: PasswordHasher, clock: Clock, ids: IdGenerator
    ) -> None:
        self._uow, self._hasher, self._clock, self._ids = uow, hasher, clock, ids

    async def __call__(self, registration: Registration) -> User:
        email = normalise_email(registration.email)
        password = check_password(registration.password)
        prefs = Preferences(
            timezone=registration.timezone or "UTC", locale=registration.locale or "en-US"
        )
        now = self._clock.now()
        user = User(
            id=self._ids.new_id(),
            email=email,
            password_hash=await self._hasher.hash(password),
            created_at=now,
            updated_at=now,
            display_name=check_display_name(registration.display_name),
            preferences=prefs,
        )
        async with self._uow() as uow:
            await uow.users.add(user)
            await uow.commit()
        return user


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    refresh_ttl: timedelta = timedelta(days=30)


class _Sessions:
    """Issuing token pairs; shared by sign-in and refresh."""

    def __init__(
        self, tokens: TokenService, clock: Clock, ids: IdGenerator, policy: SessionPolicy
    ) -> None:
        self._tokens, self._clock, self._ids, self._policy = tokens, clock, ids, policy

    def issue(
        self,
        user_id: uuid.UUID,
        family_id: uuid.UUID,
        predecessor: RefreshToken | None = None,
        device_name: str | None = None,
    ) -> tuple[TokenPair, RefreshToken]:
        now = self._clock.now()
        raw = self._tokens.new_refresh_token()
        record = RefreshToken(
            id=self._ids.new_id(),
            user_id=user_id,
            family_id=family_id,
            token_hash=hash_refresh_token(raw),
            issued_at=now,
            expires_at=now + self._policy.refresh_ttl,
            # A session keeps its name and start through every rotation.
            device_name=predecessor.device_name if predecessor else session_name(device_name),
            session_started_at=(
                (predecessor.session_started_at or predecessor.issued_at) if predecessor else now
            ),
        )
        pair = TokenPair(
            access_token=self._tokens.issue_access(user_id, family_id),
            refresh_token=raw,
            expires_in=self._tokens.access_ttl_seconds,
        )
        return pair, record


class PasswordGate:
    """Every password check (sign-in, password or email change, account deletion) goes
    through here: throttled by (account, address), by address and by account (see
    ``reflective_domain.throttling``), with a failure counted on all three."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        clock: Clock,
        throttle: SignInThrottle | None = None,
    ) -> None:
        self._uow, self._hasher, self._clock = uow, hasher, clock
        self._throttle = throttle or SignInThrottle()

    async def admit(self, uow: UnitOfWork, account: str, address: str | None, message: str) -> None:
        """Raise TooManyAttempts while this account and address must wait."""
        now = self._clock.now()
        keys = self._throttle.keys(account, address)
        counters: dict[Scope, LoginAttempts | None] = {
            scope: await uow.login_attempts.get(key) for scope, key in keys.items()
        }
        marker = await uow.login_attempts.get(self._throttle.trust_key(account, address))
        trusted = self._throttle.is_trusted(marker, now)
        wait = self._throttle.retry_after(counters, trusted, now)
        if wait is not None:
            raise TooManyAttempts(message, wait)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """The hash check; with no hash (unknown account) the same work, and False."""
        if password_hash is None:
            await self._hasher.burn(password)
            return False
        return await self._hasher.verify(password_hash, password)

    async def record(self, uow: UnitOfWork, account: str, address: str | None, ok: bool) -> None:
        """A failure counts on every key; a success clears the pair's count and trusts it.
        The caller commits."""
        now = self._clock.now()
        keys = self._throttle.keys(account, address)
        if ok:
            await uow.login_attempts.clear(keys[Scope.PAIR])
            trust = self._throttle.trust_key(account, address)
            await uow.login_attempts.save(LoginAttempts(trust, 0, now))
            # Each success also deletes a batch of counters too old to matter (rate-limit
            # windows, old failures, expired trust), so the store does not grow forever.
            await uow.login_attempts.prune(now - self._throttle.retention, PRUNE_BATCH)
            return
        # A fixed order, so concurrent failures never wait on each other in a cycle.
        for scope, key in sorted(keys.items(), key=lambda item: item[1]):
            attempts = await uow.login_attempts.get_for_update(key, now)
            attempts.record_failure(now, self._throttle.policy(scope))
            await uow.login_attempts.save(attempts)

    async def check(
        self,
        account: str,
        address: str | None,
        password_hash: str | None,
        password: str,
        message: str = TOO_MANY_PASSWORD_ATTEMPTS,
    ) -> bool:
        async with self._uow() as uow:
            await self.admit(uow, account, address, message)
        ok = await self.verify(password_hash, password)
        async with self._uow() as uow:
            await self.record(uow, account, address, ok)
            await uow.commit()
        return ok


class SignIn:
    """Same answer, and the same work, for an unknown email and a wrong password; failures are
    throttled (``PasswordGate``)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        tokens: TokenService,
        clock: Clock,
        ids: IdGenerator,
        policy: SessionPolicy | None = None,
        throttle: SignInThrottle | None = None,
    ) -> None:
        self._uow, self._ids = uow, ids
        self._sessions = _Sessions(tokens, clock, ids, policy or SessionPolicy())
        self._gate = PasswordGate(uow, hasher, clock, throttle)

    async def __call__(
        self,
        email: str,
        password: str,
        client_address: str | None = None,
        device_name: str | None = None,
    ) -> TokenPair:
        try:
            normalised: str | None = normalise_email(email)
        except ValidationFailed:
            normalised = None
        account = normalised or email.strip().lower()
        async with self._uow() as uow:
            await self._gate.admit(uow, account, client_address, TOO_MANY_ATTEMPTS)
            user = (
                await uow.users.get_by_email(normalised, with_he_key=False) if normalised else None
            )
        ok = await self._gate.verify(user.password_hash if user else None, password)
        async with self._uow() as uow:
            await self._gate.record(uow, account, client_address, ok)
            if ok and user is not None and not user.disabled:
                pair, record = self._sessions.issue(
                    user.id, self._ids.new_id(), device_name=device_name
                )
                await uow.refresh_tokens.add(record)
            await uow.commit()
        if not ok or user is None:
            raise AuthenticationFailed(WRONG_CREDENTIALS)
        if user.disabled:  # told only to someone who knows the password
            raise AccountDisabled(ACCOUNT_DISABLED)
        return pair


class RefreshSession:
    """Rotate a refresh token. A token presented twice revokes its whole family."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        tokens: TokenService,
        clock: Clock,
        ids: IdGenerator,
        policy: SessionPolicy | None = None,
    ) -> None:
        self._uow, self._clock = uow, clock
        self._sessions = _Sessions(tokens, clock, ids, policy or SessionPolicy())

    async def __call__(self, refresh_token: str) -> TokenPair:
        now = self._clock.now()
        async with self._uow() as uow:
            record = await uow.refresh_tokens.by_hash(hash_refresh_token(refresh_token))
            if record is None:
                raise AuthenticationFailed(INVALID_REFRESH)
            if record.is_replay():
                await uow.refresh_tokens.revoke_family(record.family_id, now)
                await uow.commit()
                raise AuthenticationFailed(INVALID_REFRESH)
            user = await uow.users.get(record.user_id, with_he_key=False)
            if (
                not record.is_usable(now)
                or user is None
                or user.disabled
                or not user.accepts_token_issued_at(record.issued_at)
            ):
                raise AuthenticationFailed(INVALID_REFRESH)
            record.mark_used(now)
            await uow.refresh_tokens.save(record)
            pair, successor = self._sessions.issue(record.user_id, record.family_id, record)
            await uow.refresh_tokens.add(successor)
            await uow.commit()
        return pair


class SignOut:
    """End one session (its refresh-token family) or, with no token, every session."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow, self._clock = uow, clock

    async def __call__(self, user_id: uuid.UUID, refresh_token: str | None = None) -> None:
        now = self._clock.now()
        async with self._uow() as uow:
            if refresh_token is None:
                user = await load_user(uow, user_id, with_he_key=False)
                await uow.refresh_tokens.revoke_all(user_id, now)
                user.sessions_revoked_at = now
                user.touch(now)
                await uow.users.save(user)
            else:
                record = await uow.refresh_tokens.by_hash(hash_refresh_token(refresh_token))
                if record is not None and record.user_id == user_id:
                    await uow.refresh_tokens.revoke_family(record.family_id, now)
            await uow.commit()


class Authorize:
    """Turn an access token into the user it names, refusing tokens a password change ended.

    Routes on the sync path do not call this: they verify the token's signature only
    (``TokenService.read_access``) and give its issue time to their use case, which checks it
    on the user-row read it makes anyway, in its own transaction."""

    def __init__(self, uow: UnitOfWorkFactory, tokens: TokenService) -> None:
        self._uow, self._tokens = uow, tokens

    async def __call__(self, access_token: str) -> uuid.UUID:
        claims = self._tokens.read_access(access_token)
        async with self._uow() as uow:
            state = await uow.users.state(claims.user_id)
        if state is None or not state.accepts_token_issued_at(claims.issued_at):
            raise AuthenticationFailed("Could not validate credentials")
        return state.id


class GetProfile:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow, self._clock = uow, clock

    async def __call__(
        self, user_id: uuid.UUID, *, token_issued_at: datetime | None = None
    ) -> Profile:
        now = self._clock.now()
        async with self._uow() as uow:
            user = await load_user(uow, user_id, with_he_key=False, token_issued_at=token_issued_at)
            tz = user.preferences.timezone
            count = await uow.entries.count_live(user_id)
            # Only the recent entries' times: a window at a time, further back only while the
            # streak reaches the window's first day.
            times: list[datetime] = []
            days = STREAK_WINDOW_DAYS
            while True:
                since = streak_window_start(now, tz, days)
                times = await uow.entries.creation_times(user_id, since)
                streak = writing_streak(times, tz, now)
                if streak < days - 1 or len(times) >= count:
                    break
                days *= 4
        return Profile(user, count, streak)


@dataclass(frozen=True, slots=True)
class ProfileChanges:
    """Only the fields given change. A new password needs the current one. ``preferences``
    holds any preference fields sent with the profile (timezone, locale, word goal, ...)."""

    display_name: str | None = None
    email: str | None = None
    current_password: str | None = None
    password: str | None = None
    preferences: Mapping[str, object] = field(default_factory=dict)

    def __repr__(self) -> str:
        return "ProfileChanges(<hidden>)"


class UpdateProfile:
    """A new password or a new email needs the current password, checked through the same
    throttle as sign-in (a stolen access token must not become a password oracle)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        clock: Clock,
        profile: GetProfile,
        throttle: SignInThrottle | None = None,
    ) -> None:
        self._uow, self._hasher, self._clock, self._profile = uow, hasher, clock, profile
        self._gate = PasswordGate(uow, hasher, clock, throttle)

    async def __call__(
        self, user_id: uuid.UUID, changes: ProfileChanges, client_address: str | None = None
    ) -> Profile:
        async with self._uow() as uow:
            user = await load_user(uow, user_id, with_he_key=False)
        if changes.password is not None:
            check_password(changes.password)
        new_email = normalise_email(changes.email) if changes.email is not None else None
        new_hash = None
        if changes.password is not None or (new_email is not None and new_email != user.email):
            if changes.current_password is None:
                raise ValidationFailed("current_password", CURRENT_PASSWORD_REQUIRED)
            if not await self._gate.check(
                user.email, client_address, user.password_hash, changes.current_password
            ):
                raise AuthenticationFailed("Current password is incorrect")
            if changes.password is not None:
                new_hash = await self._hasher.hash(changes.password)
        now = self._clock.now()
        async with self._uow() as uow:
            user = await load_user(uow, user_id)
            if changes.display_name is not None:
                user.rename(changes.display_name, now)
            if new_email is not None and new_email != user.email:
                user.change_email(new_email, now)
            if changes.preferences:
                user.update_preferences(now, **changes.preferences)
            if new_hash is not None:
                user.change_password_hash(new_hash, now)
                await uow.refresh_tokens.revoke_all(user_id, now)
            await uow.users.save(user)
            await uow.commit()
        return await self._profile(user_id)


class GetPreferences:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(self, user_id: uuid.UUID) -> Preferences:
        async with self._uow() as uow:
            return (await load_user(uow, user_id, with_he_key=False)).preferences


class UpdatePreferences:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow, self._clock = uow, clock

    async def __call__(self, user_id: uuid.UUID, **changes: object) -> Preferences:
        async with self._uow() as uow:
            user = await load_user(uow, user_id, with_he_key=False)
            user.update_preferences(self._clock.now(), **changes)
            await uow.users.save(user)
            await uow.commit()
        return user.preferences


class DeleteAccount:
    """Everything the server holds for the user goes, after the password confirms it (checked
    through the sign-in throttle)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        clock: Clock,
        throttle: SignInThrottle | None = None,
    ) -> None:
        self._uow = uow
        self._gate = PasswordGate(uow, hasher, clock, throttle)

    async def __call__(
        self, user_id: uuid.UUID, password: str, client_address: str | None = None
    ) -> None:
        async with self._uow() as uow:
            user = await load_user(uow, user_id, with_he_key=False)
        if not await self._gate.check(user.email, client_address, user.password_hash, password):
            raise AuthenticationFailed("Password is incorrect")
        async with self._uow() as uow:
            await load_user(uow, user_id)
            await uow.users.delete(user_id)
            await uow.commit()
