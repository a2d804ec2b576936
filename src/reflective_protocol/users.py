"""Profile, preferences, account deletion."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec

from reflective_protocol.auth import EMAIL, LOCALE_PATTERN, NEW_PASSWORD
from reflective_protocol.common import UtcDatetime, doc
from reflective_protocol.privacy import Tier

# The preference rules (reflective_domain.accounts.Preferences) enforce these.
TIMEZONE = doc("An IANA timezone name", ["Europe/Paris"])
LOCALE = doc("A BCP 47 language tag", ["en-US"], pattern=LOCALE_PATTERN)
WORD_GOAL = doc("Words a day the user aims for, 1..100000", ge=1, le=100_000)
REMINDER_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"
REMINDER = doc("When to remind the user to write, HH:MM (24 h); null: never", ["21:30"])
REMINDER_SET = doc(
    "When to remind the user to write, HH:MM (24 h); null: never",
    ["21:30"],
    pattern=REMINDER_PATTERN,
)
THEME = doc(
    "The client's theme settings: at most 50, keys up to 64 and values up to 256 characters",
    max_properties=50,
    propertyNames={"maxLength": 64},
)
AI = doc("Whether the client may offer its on-device AI features")


class UserProfile(msgspec.Struct):
    id: Annotated[uuid.UUID, doc("The user's id")]
    email: Annotated[str, doc("The sign-in email, lower-case")]
    display_name: Annotated[str | None, doc("The name shown, if set")]
    privacy_tier: Annotated[Tier, doc("What the server may keep for the user")]
    timezone: Annotated[str, TIMEZONE]
    locale: Annotated[str, doc("A BCP 47 language tag")]
    daily_word_goal: Annotated[int, doc("Words a day the user aims for")]
    writing_reminder_time: Annotated[str | None, REMINDER]
    theme_preferences: Annotated[dict[str, str], doc("The client's theme settings")]
    ai_features_enabled: Annotated[bool, AI]
    created_at: Annotated[UtcDatetime, doc("When the account was created (UTC)")]
    updated_at: Annotated[UtcDatetime, doc("When the account last changed (UTC)")]
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

    display_name: Annotated[
        str | None, doc("A new name to show, trimmed; at most 100 characters", max_length=100)
    ] = None
    email: Annotated[str | None, EMAIL] = None
    current_password: Annotated[
        str | None, doc("The password now: needed for a new email or password")
    ] = None
    password: Annotated[str | None, NEW_PASSWORD] = None
    timezone: Annotated[str | msgspec.UnsetType, TIMEZONE] = msgspec.UNSET
    locale: Annotated[str | msgspec.UnsetType, LOCALE] = msgspec.UNSET
    daily_word_goal: Annotated[int | msgspec.UnsetType, WORD_GOAL] = msgspec.UNSET
    writing_reminder_time: Annotated[str | msgspec.UnsetType | None, REMINDER_SET] = msgspec.UNSET
    theme_preferences: Annotated[dict[str, str] | msgspec.UnsetType, THEME] = msgspec.UNSET
    ai_features_enabled: Annotated[bool | msgspec.UnsetType, AI] = msgspec.UNSET

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
    daily_word_goal: Annotated[int, doc("Words a day the user aims for")]
    writing_reminder_time: Annotated[str | None, REMINDER]
    theme_preferences: Annotated[dict[str, str], doc("The client's theme settings")]
    ai_features_enabled: Annotated[bool, AI]
    timezone: Annotated[str, TIMEZONE]
    locale: Annotated[str, doc("A BCP 47 language tag")]


class UpdatePreferencesRequest(msgspec.Struct):
    """Partial: fields left out keep their value; ``writing_reminder_time: null`` clears it."""

    daily_word_goal: Annotated[int | msgspec.UnsetType, WORD_GOAL] = msgspec.UNSET
    writing_reminder_time: Annotated[str | msgspec.UnsetType | None, REMINDER_SET] = msgspec.UNSET
    theme_preferences: Annotated[dict[str, str] | msgspec.UnsetType, THEME] = msgspec.UNSET
    ai_features_enabled: Annotated[bool | msgspec.UnsetType, AI] = msgspec.UNSET
    timezone: Annotated[str | msgspec.UnsetType, TIMEZONE] = msgspec.UNSET
    locale: Annotated[str | msgspec.UnsetType, LOCALE] = msgspec.UNSET

    def changes(self) -> dict[str, Any]:
        return {
            name: value
            for name in self.__struct_fields__
            if (value := getattr(self, name)) is not msgspec.UNSET
        }


class DeleteAccountRequest(msgspec.Struct):
    """The account password, confirming the deletion."""

    password: Annotated[str, doc("The account's password, confirming the deletion")]

    def __repr__(self) -> str:
        return "DeleteAccountRequest(<hidden>)"
