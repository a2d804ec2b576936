"""Profile, preferences, account deletion."""

from __future__ import annotations

from reflective_app.dto.common import as_utc
from reflective_app.dto.privacy import wire_tier
from reflective_domain.accounts import Preferences
from reflective_domain.use_cases.accounts import Profile, ProfileChanges
from reflective_protocol.users import PreferencesView, UpdateProfileRequest, UserProfile


def user_profile(profile: Profile) -> UserProfile:
    user, prefs = profile.user, profile.user.preferences
    return UserProfile(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        privacy_tier=wire_tier(user.privacy_tier),
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


def profile_changes(request: UpdateProfileRequest) -> ProfileChanges:
    return ProfileChanges(
        display_name=request.display_name,
        email=request.email,
        current_password=request.current_password,
        password=request.password,
        preferences=request.preferences(),
    )


def preferences_view(prefs: Preferences) -> PreferencesView:
    return PreferencesView(
        daily_word_goal=prefs.daily_word_goal,
        writing_reminder_time=prefs.writing_reminder_time,
        theme_preferences=dict(prefs.theme_preferences),
        ai_features_enabled=prefs.ai_features_enabled,
        timezone=prefs.timezone,
        locale=prefs.locale,
    )
