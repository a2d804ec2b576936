"""Registration, login, token refresh and logout."""

from __future__ import annotations

from typing import Annotated

import msgspec

from reflective_protocol.common import doc

# The account rules (reflective_domain.accounts) enforce these; stated here for the schema.
EMAIL = doc(
    "The sign-in email; trimmed and lower-cased, at most 254 characters",
    ["ada@example.com"],
    max_length=254,
)
NEW_PASSWORD = doc(
    "8..1024 characters, not on the list of common or breached passwords",
    min_length=8,
    max_length=1024,
)
LOCALE_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"


class RegisterRequest(msgspec.Struct, omit_defaults=True):
    email: Annotated[str, EMAIL]
    password: Annotated[str, NEW_PASSWORD]
    display_name: Annotated[
        str | None, doc("The name shown, trimmed; at most 100 characters", max_length=100)
    ] = None
    timezone: Annotated[
        str | None, doc("An IANA timezone name (default UTC)", ["Europe/Paris"])
    ] = None
    locale: Annotated[
        str | None, doc("A BCP 47 language tag (default en-US)", pattern=LOCALE_PATTERN)
    ] = None

    def __repr__(self) -> str:
        return "RegisterRequest(<hidden>)"


class TokenForm(msgspec.Struct):
    """OAuth2 password-grant form: ``username`` is the email."""

    username: Annotated[str, doc("The account's email")]
    password: Annotated[str, doc("The account's password")]
    # Names the session in GET /api/auth/sessions (default: the User-Agent).
    device_name: Annotated[
        str | None,
        doc(
            "Names the session in GET /api/auth/sessions, cut to 100 characters "
            "(default: the User-Agent)"
        ),
    ] = None

    def __repr__(self) -> str:
        return "TokenForm(<hidden>)"


class RefreshRequest(msgspec.Struct):
    refresh_token: Annotated[str, doc("The refresh token of the last sign-in or refresh")]

    def __repr__(self) -> str:
        return "RefreshRequest(<hidden>)"


class LogoutRequest(msgspec.Struct, omit_defaults=True):
    """With ``refresh_token``: end that session. Without: end every session of the user."""

    refresh_token: Annotated[
        str | None, doc("The session to end (its refresh token); absent: every session")
    ] = None

    def __repr__(self) -> str:
        return "LogoutRequest(<hidden>)"


class TokenResponse(msgspec.Struct):
    access_token: Annotated[str, doc("Send as `Authorization: Bearer <access_token>`")]
    refresh_token: Annotated[str, doc("Trade at /api/auth/refresh for a new pair; single use")]
    expires_in: Annotated[int, doc("Seconds until the access token expires")]
    token_type: Annotated[str, doc('Always "bearer"')] = "bearer"

    def __repr__(self) -> str:
        return "TokenResponse(<hidden>)"
