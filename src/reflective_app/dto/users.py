"""Profile, preferences, account deletion."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec

from reflective_app.dto.common import as_utc
from reflective_domain.accounts import Preferences
from reflective_domain.use_cases.accounts import Profile, ProfileChanges


class UserProfile(msgspec.Struct):
    id: uuid.UUID
    email: str
    display_name: str | None
    privacy_tier: str
    timezone: str
    locale: str
    daily_word_goal: int
    writing_reminder_time: str | None
    theme_preferences: dict[str, str]
    ai_features_enabled: bool
    created_at: datetime
    updated_at: datetime
    logs_count: Annotated[int, msgspec.Meta(description="Entries stored for the user")]
    writing_streak: Annotated[
        int, msgspec.Meta(description="Consecutive days (user's timezone) with an entry")
    ]
    total_words_written: Annotated[
        int,
        msgspec.Meta(
            description="Always 0: a zero-knowledge server cannot read entries to count words"
        ),
    ] = 0

    @classmethod
    def of(cls, profile: Profile) -> UserProfile:
        user, prefs = profile.user, profile.user.preferences
        return cls(
            id=user.id,
            email=user.email,
            display_name=user.display_name,
            privacy_tier=user.privacy_tier.value,
            timezone=prefs.timezone,
            locale=prefs.locale,
            daily_word_goal=prefs.daily_word_goal,
            writing_reminder_time=prefs.writing_reminder_time,
            theme_preferences=dict(prefs.theme_preferences),
            ai_features_enabled=prefs.ai_features_enabled,
            created_at=as_utc(user.created_at),
            updated_at=as_utc(user.updated_at),
            logs_count=profile.logs_count,
            writing_streak=profile.writing_streak,
        )


class UpdateProfileRequest(msgspec.Struct):
    """Only the fields given change. A new ``password`` or ``email`` needs
    ``current_password``; a new password ends every session, so sign in again afterwards."""

    display_name: str | None = None
    email: str | None = None
    current_password: str | None = None
    password: str | None = None
    timezone: str | msgspec.UnsetType = msgspec.UNSET
    locale: str | msgspec.UnsetType = msgspec.UNSET
    daily_word_goal: int | msgspec.UnsetType = msgspec.UNSET
    writing_reminder_time: str | msgspec.UnsetType | None = msgspec.UNSET
    theme_preferences: dict[str, str] | msgspec.UnsetType = msgspec.UNSET
    ai_features_enabled: bool | msgspec.UnsetType = msgspec.UNSET

    def __repr__(self) -> str:
        return "UpdateProfileRequest(<hidden>)"

    def to_domain(self) -> ProfileChanges:
        preferences = {
            name: value
            for name in _PREFERENCE_FIELDS
            if (value := getattr(self, name)) is not msgspec.UNSET
        }
        return ProfileChanges(
            display_name=self.display_name,
            email=self.email,
            current_password=self.current_password,
            password=self.password,
            preferences=preferences,
        )


_PREFERENCE_FIELDS = (
    "timezone",
    "locale",
    "daily_word_goal",
    "writing_reminder_time",
    "theme_preferences",
    "ai_features_enabled",
)


class PreferencesView(msgspec.Struct):
    daily_word_goal: int
    writing_reminder_time: str | None
    theme_preferences: dict[str, str]
    ai_features_enabled: bool
    timezone: str
    locale: str

    @classmethod
    def of(cls, prefs: Preferences) -> PreferencesView:
        return cls(
            daily_word_goal=prefs.daily_word_goal,
            writing_reminder_time=prefs.writing_reminder_time,
            theme_preferences=dict(prefs.theme_preferences),
            ai_features_enabled=prefs.ai_features_enabled,
            timezone=prefs.timezone,
            locale=prefs.locale,
        )


class UpdatePreferencesRequest(msgspec.Struct):
    """Partial: fields left out keep their value; ``writing_reminder_time: null`` clears it."""

    daily_word_goal: int | msgspec.UnsetType = msgspec.UNSET
    writing_reminder_time: str | msgspec.UnsetType | None = msgspec.UNSET
    theme_preferences: dict[str, str] | msgspec.UnsetType = msgspec.UNSET
    ai_features_enabled: bool | msgspec.UnsetType = msgspec.UNSET
    timezone: str | msgspec.UnsetType = msgspec.UNSET
    locale: str | msgspec.UnsetType = msgspec.UNSET

    def changes(self) -> dict[str, Any]:
        return {
            name: value
            for name in self.__struct_fields__
            if (value := getattr(self, name)) is not msgspec.UNSET
        }


class DeleteAccountRequest(msgspec.Struct):
    """The account password, confirming the deletion."""

    password: str

    def __repr__(self) -> str:
        return "DeleteAccountRequest(<hidden>)"
