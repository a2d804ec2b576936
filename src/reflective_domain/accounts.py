"""Users, their identity and their preferences."""

from __future__ import annotations

import functools
import re
import uuid
import zoneinfo
from dataclasses import dataclass, field, replace
from datetime import datetime, time
from importlib import resources

from reflective_domain.errors import TierChangeRejected, ValidationFailed
from reflective_domain.he_params import HePublicKey
from reflective_domain.tiers import CloudData, PrivacyTier, data_to_delete

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_REMINDER = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")

MIN_WORD_GOAL = 1
MAX_WORD_GOAL = 100_000
MAX_DISPLAY_NAME = 100
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


def normalise_email(raw: str) -> str:
    """Trim and lower-case; reject what cannot be an address."""
    email = raw.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise ValidationFailed("email", "email is not a valid address")
    return email


COMMON_PASSWORD = "password is too common (it appears in lists of breached passwords)"


@functools.cache
def common_passwords() -> frozenset[str]:
    """The blocklist shipped with the package (``data/common_passwords.txt``), lower-case."""
    text = resources.files("reflective_domain").joinpath("data/common_passwords.txt")
    lines = text.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def check_password(password: str) -> str:
    """NIST SP 800-63B: a length range and a blocklist of common and breached passwords
    (compared case-insensitively), no composition rules. The server never sees a password
    again after hashing it."""
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed("password", f"password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ValidationFailed("password", f"password must have at most {MAX_PASSWORD} characters")
    if password.lower() in common_passwords():
        raise ValidationFailed("password", COMMON_PASSWORD)
    return password


def check_display_name(raw: str | None) -> str | None:
    if raw is None:
        return None
    name = raw.strip()
    if not name:
        return None
    if len(name) > MAX_DISPLAY_NAME:
        raise ValidationFailed(
            "display_name", f"display_name must have at most {MAX_DISPLAY_NAME} characters"
        )
    return name


def check_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, IsADirectoryError) as exc:
        raise ValidationFailed("timezone", f"unknown IANA timezone {name!r}") from exc
    return name


@dataclass(frozen=True, slots=True)
class Preferences:
    """A user's settings; validated on construction so an invalid one cannot exist."""

    timezone: str = "UTC"
    locale: str = "en-US"
    daily_word_goal: int = 750
    writing_reminder_time: str | None = None
    theme_preferences: dict[str, str] = field(default_factory=dict)
    ai_features_enabled: bool = True

    def __post_init__(self) -> None:
        check_timezone(self.timezone)
        if not _LOCALE.match(self.locale):
            raise ValidationFailed("locale", f"locale {self.locale!r} is not a BCP 47 tag")
        if isinstance(self.daily_word_goal, bool) or not (
            MIN_WORD_GOAL <= self.daily_word_goal <= MAX_WORD_GOAL
        ):
            raise ValidationFailed(
                "daily_word_goal",
                f"daily_word_goal must be between {MIN_WORD_GOAL} and {MAX_WORD_GOAL}",
            )
        if self.writing_reminder_time is not None and not _REMINDER.match(
            self.writing_reminder_time
        ):
            raise ValidationFailed("writing_reminder_time", "writing_reminder_time must be HH:MM")
        if len(self.theme_preferences) > 50 or any(
            len(k) > 64 or len(v) > 256 for k, v in self.theme_preferences.items()
        ):
            raise ValidationFailed("theme_preferences", "theme_preferences is too large")

    @property
    def reminder(self) -> time | None:
        if self.writing_reminder_time is None:
            return None
        hours, minutes = self.writing_reminder_time.split(":")
        return time(int(hours), int(minutes))

    def updated(self, **changes: object) -> Preferences:
        """A copy with ``changes`` applied, validated like a new one."""
        unknown = set(changes) - set(self.__dataclass_fields__)
        if unknown:
            raise ValidationFailed(sorted(unknown)[0], "unknown preference")
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class TierChange:
    """The outcome of a tier change: what the caller must now delete from the cloud."""

    previous: PrivacyTier
    current: PrivacyTier
    delete: frozenset[CloudData]


@dataclass(frozen=True, slots=True)
class AccountState:
    """What a request on the sync path needs of its user, read (and, for a writer, locked)
    in one go: never the profile or the HE key. ``stored_bytes`` is the storage the account
    holds (see ``entries.stored_size``)."""

    id: uuid.UUID
    privacy_tier: PrivacyTier
    sessions_revoked_at: datetime | None
    change_seq: int
    stored_bytes: int
    disabled: bool = False

    def accepts_token_issued_at(self, issued_at: datetime) -> bool:
        """A disabled account accepts no token; otherwise one issued since the last "end every
        session"."""
        if self.disabled:
            return False
        return self.sessions_revoked_at is None or issued_at >= self.sessions_revoked_at


@dataclass(slots=True)
class User:
    """The account aggregate. Its methods carry the rules about tiers and profile changes."""

    id: uuid.UUID
    email: str
    password_hash: str
    created_at: datetime
    updated_at: datetime
    display_name: str | None = None
    preferences: Preferences = field(default_factory=Preferences)
    privacy_tier: PrivacyTier = PrivacyTier.LOCAL_ONLY
    he_public_key: HePublicKey | None = None
    consent_at: datetime | None = None
    sync_enabled_at: datetime | None = None
    sessions_revoked_at: datetime | None = None
    version: int = 1
    # Set by an administrator: no sign-in, and every token issued so far is refused.
    disabled: bool = False

    def __repr__(self) -> str:
        return f"User(id={self.id}, tier={self.privacy_tier.value}, version={self.version})"

    def disable(self, now: datetime) -> None:
        """Refuse sign-in and every token issued before now (all sessions end)."""
        self.disabled = True
        self.sessions_revoked_at = now
        self.touch(now)

    def enable(self, now: datetime) -> None:
        self.disabled = False
        self.touch(now)

    def touch(self, now: datetime) -> None:
        self.updated_at = now
        self.version += 1

    def change_email(self, raw: str, now: datetime) -> None:
        self.email = normalise_email(raw)
        self.touch(now)

    def rename(self, raw: str | None, now: datetime) -> None:
        self.display_name = check_display_name(raw)
        self.touch(now)

    def update_preferences(self, now: datetime, **changes: object) -> None:
        self.preferences = self.preferences.updated(**changes)
        self.touch(now)

    def change_password_hash(self, new_hash: str, now: datetime) -> None:
        """A new password ends every session: tokens issued before now stop working."""
        self.password_hash = new_hash
        self.sessions_revoked_at = now
        self.touch(now)

    def accepts_token_issued_at(self, issued_at: datetime) -> bool:
        return self.sessions_revoked_at is None or issued_at >= self.sessions_revoked_at

    @property
    def sync_enabled(self) -> bool:
        return self.privacy_tier is not PrivacyTier.LOCAL_ONLY

    def change_tier(
        self,
        target: PrivacyTier,
        now: datetime,
        consent_at: datetime | None = None,
        he_public_key: HePublicKey | None = None,
    ) -> TierChange:
        """Move to ``target``. Upgrades need consent and an HE key (the new one or the one held).

        Returns what must be deleted: exactly the data ``previous`` keeps and ``target`` does not.
        """
        previous = self.privacy_tier
        delete = data_to_delete(previous, target)
        if target.needs_he_key:
            key = he_public_key or self.he_public_key
            if key is None:
                raise TierChangeRejected(f"{target.value} needs he_public_key")
            if previous < target and consent_at is None:
                raise TierChangeRejected(f"{target.value} needs consent_timestamp")
            if self.he_public_key is not None and key != self.he_public_key:
                # Metrics made under the old key can never be added to new ones.
                delete |= {CloudData.METRICS}
            self.he_public_key = key
        else:
            self.he_public_key = None
        if previous < target:
            self.consent_at = consent_at
        if target is PrivacyTier.LOCAL_ONLY:
            self.sync_enabled_at = None
            self.consent_at = None
        elif self.sync_enabled_at is None:
            self.sync_enabled_at = now
        self.privacy_tier = target
        self.touch(now)
        return TierChange(previous, target, frozenset(delete))


def check_colour(raw: str) -> str:
    if not _HEX.match(raw):
        raise ValidationFailed("color", "color must be #RRGGBB")
    return raw.upper()
