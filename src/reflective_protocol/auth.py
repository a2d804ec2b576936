"""Registration, login, token refresh and logout."""

from __future__ import annotations

import msgspec


class RegisterRequest(msgspec.Struct, omit_defaults=True):
    email: str
    password: str
    display_name: str | None = None
    timezone: str | None = None
    locale: str | None = None

    def __repr__(self) -> str:
        return "RegisterRequest(<hidden>)"


class TokenForm(msgspec.Struct):
    """OAuth2 password-grant form: ``username`` is the email."""

    username: str
    password: str
    # Names the session in GET /api/auth/sessions (default: the User-Agent).
    device_name: str | None = None

    def __repr__(self) -> str:
        return "TokenForm(<hidden>)"


class RefreshRequest(msgspec.Struct):
    refresh_token: str

    def __repr__(self) -> str:
        return "RefreshRequest(<hidden>)"


class LogoutRequest(msgspec.Struct, omit_defaults=True):
    """With ``refresh_token``: end that session. Without: end every session of the user."""

    refresh_token: str | None = None

    def __repr__(self) -> str:
        return "LogoutRequest(<hidden>)"


class TokenResponse(msgspec.Struct):
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"

    def __repr__(self) -> str:
        return "TokenResponse(<hidden>)"
