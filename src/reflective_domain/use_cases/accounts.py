"""Register, sign in, sessions, profile, preferences, password and account deletion."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from reflective_domain.accounts import (
    Preferences,
    User,
    check_display_name,
    check_password,
    normalise_email,
)
from reflective_domain.errors import AuthenticationFailed, TooManyAttempts, ValidationFailed
from reflective_domain.ports import Clock, IdGenerator, PasswordHasher, TokenService
from reflective_domain.ports.unit_of_work import UnitOfWorkFactory
from reflective_domain.sessions import (
    RefreshToken,
    TokenPair,
    hash_refresh_token,
    session_name,
)
from reflective_domain.streaks import writing_streak
from reflective_domain.throttling import ThrottlePolicy, throttle_key
from reflective_domain.use_cases._guards import load_user

WRONG_CREDENTIALS = "Incorrect email or password"
INVALID_REFRESH = "Invalid or expired refresh token"
TOO_MANY_ATTEMPTS = "Too many failed sign-in attempts; try again later"


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


class SignIn:
    """Same answer, and the same work, for an unknown email and a wrong password; failures are
    throttled per account and per client address."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        tokens: TokenService,
        clock: Clock,
        ids: IdGenerator,
        policy: SessionPolicy | None = None,
        account_throttle: ThrottlePolicy | None = None,
        address_throttle: ThrottlePolicy | None = None,
    ) -> None:
        self._uow, self._hasher, self._ids, self._clock = uow, hasher, ids, clock
        self._sessions = _Sessions(tokens, clock, ids, policy or SessionPolicy())
        self._account_throttle = account_throttle or ThrottlePolicy.per_account()
        self._address_throttle = address_throttle or ThrottlePolicy.per_address()

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
        limits = [
            (throttle_key("account", normalised or email.strip().lower()), self._account_throttle)
        ]
        if client_address:
            limits.append((throttle_key("address", client_address), self._address_throttle))
        now = self._clock.now()
        async with self._uow() as uow:
            for key, _ in limits:
                attempts = await uow.login_attempts.get(key)
                wait = attempts.retry_after(now) if attempts is not None else None
                if wait is not None:
                    raise TooManyAttempts(TOO_MANY_ATTEMPTS, wait)
            user = await uow.users.get_by_email(normalised) if normalised else None
        if user is None:
            await self._hasher.burn(password)
            ok = False
        else:
            ok = await self._hasher.verify(user.password_hash, password)
        async with self._uow() as uow:
            if not ok or user is None:
                for key, policy in limits:
                    attempts = await uow.login_attempts.get_for_update(key, now)
                    attempts.record_failure(now, policy)
                    await uow.login_attempts.save(attempts)
                await uow.commit()
                raise AuthenticationFailed(WRONG_CREDENTIALS)
            await uow.login_attempts.clear(limits[0][0])
            pair, record = self._sessions.issue(
                user.id, self._ids.new_id(), device_name=device_name
            )
            await uow.refresh_tokens.add(record)
            await uow.commit()
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
            user = await uow.users.get(record.user_id)
            if (
                not record.is_usable(now)
                or user is None
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
                user = await load_user(uow, user_id)
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
    """Turn an access token into the user it names, refusing tokens a password change ended."""

    def __init__(self, uow: UnitOfWorkFactory, tokens: TokenService) -> None:
        self._uow, self._tokens = uow, tokens

    async def __call__(self, access_token: str) -> uuid.UUID:
        claims = self._tokens.read_access(access_token)
        async with self._uow() as uow:
            user = await uow.users.get(claims.user_id)
        if user is None or not user.accepts_token_issued_at(claims.issued_at):
            raise AuthenticationFailed("Could not validate credentials")
        return user.id


class GetProfile:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow, self._clock = uow, clock

    async def __call__(self, user_id: uuid.UUID) -> Profile:
        async with self._uow() as uow:
            user = await load_user(uow, user_id)
            count = await uow.entries.count_live(user_id)
            times = await uow.entries.creation_times(user_id)
        streak = writing_streak(times, user.preferences.timezone, self._clock.now())
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
    def __init__(
        self, uow: UnitOfWorkFactory, hasher: PasswordHasher, clock: Clock, profile: GetProfile
    ) -> None:
        self._uow, self._hasher, self._clock, self._profile = uow, hasher, clock, profile

    async def __call__(self, user_id: uuid.UUID, changes: ProfileChanges) -> Profile:
        now = self._clock.now()
        new_hash = None
        async with self._uow() as uow:
            user = await load_user(uow, user_id)
            if changes.password is not None:
                check_password(changes.password)
                if changes.current_password is None or not await self._hasher.verify(
                    user.password_hash, changes.current_password
                ):
                    raise AuthenticationFailed("Current password is incorrect")
                new_hash = await self._hasher.hash(changes.password)
            if changes.display_name is not None:
                user.rename(changes.display_name, now)
            if changes.email is not None:
                user.change_email(changes.email, now)
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
            return (await load_user(uow, user_id)).preferences


class UpdatePreferences:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow, self._clock = uow, clock

    async def __call__(self, user_id: uuid.UUID, **changes: object) -> Preferences:
        async with self._uow() as uow:
            user = await load_user(uow, user_id)
            user.update_preferences(self._clock.now(), **changes)
            await uow.users.save(user)
            await uow.commit()
        return user.preferences


class DeleteAccount:
    """Everything the server holds for the user goes, after the password confirms it."""

    def __init__(self, uow: UnitOfWorkFactory, hasher: PasswordHasher) -> None:
        self._uow, self._hasher = uow, hasher

    async def __call__(self, user_id: uuid.UUID, password: str) -> None:
        async with self._uow() as uow:
            user = await load_user(uow, user_id)
            if not await self._hasher.verify(user.password_hash, password):
                raise AuthenticationFailed("Password is incorrect")
            await uow.users.delete(user_id)
            await uow.commit()
