"""Registration, login, token refresh, logout."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, URLEncodedBody

from reflective_app.dto.auth import token_response
from reflective_app.dto.users import user_profile
from reflective_app.errors import CodedHTTPException
from reflective_app.injected import UserId
from reflective_app.limits import rate_limit
from reflective_app.openapi import BEARER_AUTH, documented
from reflective_app.settings import Settings
from reflective_domain.use_cases.accounts import (
    GetProfile,
    RefreshSession,
    Register,
    Registration,
    SignIn,
    SignOut,
)
from reflective_protocol.auth import (
    LogoutRequest,
    RefreshRequest,
    RegisterRequest,
    TokenForm,
    TokenResponse,
)
from reflective_protocol.errors import ErrorCode
from reflective_protocol.users import UserProfile

REGISTRATION_CLOSED = (
    "Registration is closed on this server; ask its administrator to create your account"
)


class AuthController(Controller):
    path = "/api/auth"
    tags = ["auth"]

    @post(
        "/register",
        status_code=201,
        operation_id="register",
        **documented(
            "Create an account",
            ErrorCode.EMAIL_TAKEN,
            ErrorCode.REGISTRATION_CLOSED,
            ErrorCode.RATE_LIMITED,
        ),
        guards=[rate_limit("register", per="address")],
    )
    async def register(
        self,
        data: JSONBody[RegisterRequest],
        register: NamedDependency[Register],
        get_profile: NamedDependency[GetProfile],
        settings: NamedDependency[Settings],
    ) -> UserProfile:
        """Create an account (privacy tier local_only). 409 when the email is registered,
        422 for an invalid email, a password under 8 characters or on the list of common
        passwords, an unknown timezone; 403 when the server's registration is closed
        (REGISTRATION_OPEN=false); 429 with ``Retry-After`` beyond the registrations allowed
        per client address."""
        if not settings.registration_open:
            raise CodedHTTPException(ErrorCode.REGISTRATION_CLOSED, REGISTRATION_CLOSED)
        user = await register(
            Registration(
                email=data.email,
                password=data.password,
                display_name=data.display_name,
                timezone=data.timezone,
                locale=data.locale,
            )
        )
        return user_profile(await get_profile(user.id))

    @post(
        "/token",
        status_code=200,
        operation_id="login",
        **documented(
            "Sign in",
            ErrorCode.NOT_AUTHENTICATED,
            ErrorCode.ACCOUNT_DISABLED,
            ErrorCode.RATE_LIMITED,
        ),
    )
    async def token(
        self,
        request: Request[Any, Any, Any],
        data: URLEncodedBody[TokenForm],
        sign_in: NamedDependency[SignIn],
    ) -> TokenResponse:
        """Sign in with a form-urlencoded ``username`` (the email) and ``password``. Answers
        an access token and a refresh token; 401 for a wrong email or password (the same
        answer, in the same time, either way). Repeated failures for one account or from one
        address answer 429 with ``Retry-After``. An optional ``device_name`` names the session
        (else the User-Agent, cut to 100 characters)."""
        address = request.client.host if request.client else None
        device_name = data.device_name or request.headers.get("user-agent")
        return token_response(
            await sign_in(data.username, data.password, address, device_name=device_name)
        )

    @post(
        "/refresh",
        status_code=200,
        operation_id="refresh_token",
        **documented(
            "Refresh the access token", ErrorCode.NOT_AUTHENTICATED, ErrorCode.RATE_LIMITED
        ),
        guards=[rate_limit("refresh", per="address")],
    )
    async def refresh(
        self, data: JSONBody[RefreshRequest], refresh_session: NamedDependency[RefreshSession]
    ) -> TokenResponse:
        """Trade a refresh token for a new access and refresh token. The old refresh token
        stops working; presenting it again revokes every token descended from the same
        sign-in."""
        return token_response(await refresh_session(data.refresh_token))

    @post(
        "/logout",
        status_code=204,
        operation_id="logout",
        **documented("Sign out"),
        security=BEARER_AUTH,
    )
    async def logout(
        self,
        user_id: UserId,
        sign_out: NamedDependency[SignOut],
        data: JSONBody[LogoutRequest | None] = None,
    ) -> None:
        """End the session of ``refresh_token``, or, without one, every session of the user
        (access tokens issued before now stop working too)."""
        await sign_out(user_id, data.refresh_token if data is not None else None)
