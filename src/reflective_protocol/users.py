"""Profile, preferences, account deletion."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec

from reflective_protocol.common import UtcDatetime
from reflective_protocol.privacy import Tier


class UserProfile(msgspec.Struct):
    id: uuid.UUID
    email: str
    display_name: str | None
    privacy_tier: Tier
    timezone: str
    locale: str
    daily_word_goal: int
    writing_reminder_time: str | None
    theme_preferences: dict[str, str]
    ai_features_enabled: bool
    created_at: UtcDatetime
    updated_at: UtcDatetime
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


PREFERENCE_FIELDS = (
    "timezone",
    "locale",
    "daily_word_goal",
    "writing_reminder_time",
    "theme_preferences",
    "ai_features_enabled",
)


class UpdateProfileRequest(msgspec.Struct, omit_defaults=True):
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

    def preferences(self) -> dict[str, Any]:
        """The preference fields given."""
        return {
            name: value
            for name in PREFERENCE_FIELDS
            if (value := getattr(self, name)) is not msgspec.UNSET
        }


class PreferencesView(msgspec.Struct):
    daily_word_goal: int
    writing_reminder_time: str | None
    theme_preferences: dict[str, str]
    ai_features_enabled: bool
    timezone: str
    locale: str


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
