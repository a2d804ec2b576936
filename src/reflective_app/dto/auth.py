"""Registration, login, token refresh and logout."""

from __future__ import annotations

import msgspec

from reflective_domain.sessions import TokenPair


class RegisterRequest(msgspec.Struct):
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


class LogoutRequest(msgspec.Struct):
    """With ``refresh_token``: end that session. Without: end every session of the user."""

    refresh_token: str | None = None

    def __repr__(self) -> str:
        return "LogoutRequest(<hidden>)"


class TokenResponse(msgspec.Struct):
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"

    @classmethod
    def of(cls, pair: TokenPair) -> TokenResponse:
        return cls(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires_in=pair.expires_in,
        )

    def __repr__(self) -> str:
        return "TokenResponse(<hidden>)"
