"""Registration, login, token refresh and logout."""

from __future__ import annotations

from reflective_domain.sessions import TokenPair
from reflective_protocol.auth import TokenResponse


def token_response(pair: TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
    )
