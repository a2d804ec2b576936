"""The signed-in user: profile, preferences, privacy tier, export, account deletion."""

from __future__ import annotations

from typing import Any

from litestar import Controller, MediaType, Request, delete, get, put
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody
from litestar.response import Stream

from reflective_app.dto.export import export_stream
from reflective_app.dto.privacy import domain_tier, privacy_view, revoke_response
from reflective_app.dto.users import preferences_view, profile_changes, user_profile
from reflective_app.injected import Caller, ClockDep, UserId
from reflective_app.limits import rate_limit
from reflective_app.openapi import BEARER_AUTH, documented
from reflective_domain.use_cases.accounts import (
    DeleteAccount,
    GetPreferences,
    GetProfile,
    UpdatePreferences,
    UpdateProfile,
)
from reflective_domain.use_cases.export import ExportPages
from reflective_domain.use_cases.privacy import ChangeTier, GetPrivacy, RevokeSync
from reflective_protocol.errors import ErrorCode
from reflective_protocol.export import ExportDocument
from reflective_protocol.privacy import PrivacyView, RevokeResponse, UpdatePrivacyRequest
from reflective_protocol.users import (
    DeleteAccountRequest,
    PreferencesView,
    UpdatePreferencesRequest,
    UpdateProfileRequest,
    UserProfile,
)


class UserController(Controller):
    path = "/api/users/me"
    tags = ["users"]
    security = BEARER_AUTH

    @get(operation_id="get_me", **documented("Read your profile"))
    async def get_me(self, caller: Caller, get_profile: NamedDependency[GetProfile]) -> UserProfile:
        """The user's profile. ``total_words_written`` is always 0: the server cannot read
        entries."""
        return user_profile(await get_profile(caller.user_id, token_issued_at=caller.issued_at))

    @put(
        operation_id="update_me",
        **documented(
            "Change your profile, email or password",
            ErrorCode.EMAIL_TAKEN,
            ErrorCode.CONCURRENT_UPDATE,
            ErrorCode.RATE_LIMITED,
        ),
    )
    async def update_me(
        self,
        request: Request[Any, Any, Any],
        user_id: UserId,
        data: JSONBody[UpdateProfileRequest],
        update_profile: NamedDependency[UpdateProfile],
    ) -> UserProfile:
        """Change display name, email, password and/or any preference field (timezone,
        locale, daily_word_goal, writing_reminder_time, theme_preferences,
        ai_features_enabled). A password or email change needs ``current_password`` (422
        without, 401 if wrong, 429 with ``Retry-After`` after repeated wrong ones, counted with
        sign-in failures); a password change ends every session."""
        address = request.client.host if request.client else None
        return user_profile(await update_profile(user_id, profile_changes(data), address))

    @delete(
        status_code=204,
        operation_id="delete_me",
        **documented("Delete your account", ErrorCode.RATE_LIMITED),
    )
    async def delete_me(
        self,
        request: Request[Any, Any, Any],
        user_id: UserId,
        data: JSONBody[DeleteAccountRequest],
        delete_account: NamedDependency[DeleteAccount],
    ) -> None:
        """Delete the account and everything the server holds for it, after the password
        confirms it (401 if wrong; 429 with ``Retry-After`` after repeated wrong ones, counted
        with sign-in failures)."""
        address = request.client.host if request.client else None
        await delete_account(user_id, data.password, address)

    @get(
        "/preferences",
        operation_id="get_preferences",
        **documented("Read your writing preferences"),
    )
    async def get_preferences(
        self, user_id: UserId, get_preferences: NamedDependency[GetPreferences]
    ) -> PreferencesView:
        """The user's writing preferences."""
        return preferences_view(await get_preferences(user_id))

    @put(
        "/preferences",
        operation_id="update_preferences",
        **documented("Change your writing preferences", ErrorCode.CONCURRENT_UPDATE),
    )
    async def update_preferences(
        self,
        user_id: UserId,
        data: JSONBody[UpdatePreferencesRequest],
        update_preferences: NamedDependency[UpdatePreferences],
    ) -> PreferencesView:
        """Change some preferences. 422 for a timezone that is not IANA, a reminder not
        ``HH:MM``, a daily word goal outside 1..100000."""
        return preferences_view(await update_preferences(user_id, **data.changes()))

    @get("/privacy", operation_id="get_privacy", **documented("Read your privacy tier"))
    async def get_privacy(
        self, user_id: UserId, get_privacy: NamedDependency[GetPrivacy]
    ) -> PrivacyView:
        """The privacy tier and the features it offers."""
        return privacy_view(await get_privacy(user_id))

    @put(
        "/privacy",
        operation_id="update_privacy",
        **documented(
            "Change your privacy tier", ErrorCode.TIER_CHANGE_REJECTED, ErrorCode.CONCURRENT_UPDATE
        ),
    )
    async def update_privacy(
        self,
        user_id: UserId,
        data: JSONBody[UpdatePrivacyRequest],
        change_tier: NamedDependency[ChangeTier],
    ) -> PrivacyView:
        """Change tier (local_only < analytics_sync < full_sync). An upgrade needs
        ``consent_timestamp`` and ``he_public_key`` (400 without; 422 if the key does not
        load). A downgrade deletes the cloud data the new tier does not keep."""
        changed = await change_tier(
            user_id, domain_tier(data.privacy_tier), data.consent_timestamp, data.he_public_key
        )
        return privacy_view(changed.state)

    @delete(
        "/privacy/revoke",
        status_code=200,
        operation_id="revoke_privacy",
        **documented("Go back to local_only, deleting all cloud data"),
    )
    async def revoke(
        self, user_id: UserId, revoke_sync: NamedDependency[RevokeSync]
    ) -> RevokeResponse:
        """Back to local_only: every metric, backup and conflict and the HE key are deleted."""
        return revoke_response(await revoke_sync(user_id))

    @get(
        "/export",
        operation_id="export_data",
        **documented("Export all your cloud data", ErrorCode.RATE_LIMITED),
        guards=[rate_limit("export", per="user")],
        responses={
            200: ResponseSpec(
                ExportDocument, description="The export document", generate_examples=False
            )
        },
    )
    async def export(
        self, user_id: UserId, export_pages: NamedDependency[ExportPages], clock: ClockDep
    ) -> Stream:
        """Every cloud record of the user, ciphertexts (base64) and metadata, in one
        document, written as it is read (a page of records at a time)."""
        head = await export_pages.head(user_id)
        return Stream(
            export_stream(export_pages, head, clock.now()),
            media_type=MediaType.JSON,
        )
