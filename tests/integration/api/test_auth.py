"""Registration, login, refresh rotation, logout, and what the token check refuses."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

import jwt

from reflective_adapters.security import JwtTokenService
from tests.integration.api.conftest import TEST_SECRET, Account, Client, bearer, sign_up

UTC = timezone.utc


class _FixedClock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


async def test_register_answers_the_profile_with_defaults(client: Client) -> None:
    response = await client.post(
        "/api/auth/register",
        json={"email": " Ada@Example.com ", "password": "correct horse", "display_name": "Ada"},
    )
    assert response.status_code == 201
    profile = response.json()
    assert profile["email"] == "ada@example.com"
    assert profile["display_name"] == "Ada"
    assert profile["privacy_tier"] == "local_only"
    assert profile["timezone"] == "UTC"
    assert profile["locale"] == "en-US"
    assert profile["daily_word_goal"] == 750
    assert profile["ai_features_enabled"] is True
    assert profile["writing_reminder_time"] is None
    assert profile["theme_preferences"] == {}
    assert (profile["logs_count"], profile["writing_streak"], profile["total_words_written"]) == (
        0,
        0,
        0,
    )
    assert profile["created_at"].endswith("Z")
    uuid.UUID(profile["id"])
    assert "password" not in response.text and "hash" not in response.text


async def test_register_takes_timezone_and_locale(client: Client) -> None:
    response = await client.post(
        "/api/auth/register",
        json={
            "email": "tz@example.com",
            "password": "correct horse",
            "timezone": "Europe/Paris",
            "locale": "fr-FR",
        },
    )
    assert response.status_code == 201
    assert (response.json()["timezone"], response.json()["locale"]) == ("Europe/Paris", "fr-FR")


async def test_duplicate_email_is_409(client: Client, user: Account) -> None:
    response = await client.post(
        "/api/auth/register", json={"email": "ADA@example.com", "password": "something else"}
    )
    assert response.status_code == 409
    assert response.json() == {"detail": "Email already registered", "code": "email_taken"}


async def test_weak_or_invalid_input_is_422_with_locations(client: Client) -> None:
    short = await client.post(
        "/api/auth/register", json={"email": "x@example.com", "password": "short"}
    )
    assert short.status_code == 422
    [problem] = short.json()["detail"]
    assert problem["loc"] == ["body", "password"]
    assert problem["type"] == "value_error" and problem["msg"]

    bad_email = await client.post(
        "/api/auth/register", json={"email": "not-an-email", "password": "long enough"}
    )
    assert bad_email.status_code == 422
    assert bad_email.json()["detail"][0]["loc"] == ["body", "email"]

    missing = await client.post("/api/auth/register", json={"email": "x@example.com"})
    assert missing.status_code == 422
    assert missing.json()["detail"] == [
        {
            "loc": ["body", "password"],
            "msg": "Object missing required field `password`",
            "type": "missing",
        }
    ]

    wrong_type = await client.post(
        "/api/auth/register", json={"email": "x@example.com", "password": 12345678}
    )
    assert wrong_type.status_code == 422
    assert wrong_type.json()["detail"][0]["loc"] == ["body", "password"]

    bad_zone = await client.post(
        "/api/auth/register",
        json={"email": "x@example.com", "password": "long enough", "timezone": "Mars/Olympus"},
    )
    assert bad_zone.status_code == 422
    assert bad_zone.json()["detail"][0]["loc"] == ["body", "timezone"]


async def test_unknown_fields_are_ignored(client: Client) -> None:
    response = await client.post(
        "/api/auth/register",
        json={"email": "extra@example.com", "password": "long enough", "favourite_colour": "blue"},
    )
    assert response.status_code == 201


async def test_malformed_json_is_422(client: Client) -> None:
    response = await client.post(
        "/api/auth/register", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


async def test_login_is_a_form_and_answers_bearer_tokens(client: Client, user: Account) -> None:
    tokens = user.tokens
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 30 * 60
    assert tokens["access_token"] and tokens["refresh_token"]
    me = await client.get("/api/users/me", headers=user.headers)
    assert me.status_code == 200
    assert me.json()["email"] == "ada@example.com"


async def test_login_accepts_oauth2_extra_form_fields(client: Client, user: Account) -> None:
    response = await client.post(
        "/api/auth/token",
        data={
            "grant_type": "password",
            "username": user.email,
            "password": user.password,
            "scope": "",
        },
    )
    assert response.status_code == 200


async def test_wrong_password_and_unknown_email_get_the_same_401(
    client: Client, user: Account
) -> None:
    wrong = await client.post(
        "/api/auth/token", data={"username": user.email, "password": "not the password"}
    )
    unknown = await client.post(
        "/api/auth/token", data={"username": "nobody@example.com", "password": "whatever1"}
    )
    garbage = await client.post("/api/auth/token", data={"username": "@@", "password": "x"})
    for response in (wrong, unknown, garbage):
        assert response.status_code == 401
        assert response.json() == {
            "detail": "Incorrect email or password",
            "code": "not_authenticated",
        }
        assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_login_without_password_is_422(client: Client) -> None:
    response = await client.post("/api/auth/token", data={"username": "ada@example.com"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "password"]


async def test_refresh_rotates_and_reuse_revokes_the_family(client: Client, user: Account) -> None:
    first = user.tokens["refresh_token"]
    rotated = await client.post("/api/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200
    pair = rotated.json()
    assert pair["refresh_token"] != first and pair["token_type"] == "bearer"
    assert (
        await client.get("/api/users/me", headers=bearer(pair["access_token"]))
    ).status_code == 200

    replay = await client.post("/api/auth/refresh", json={"refresh_token": first})
    assert replay.status_code == 401
    assert replay.headers["WWW-Authenticate"] == "Bearer"
    # The replay revoked the whole family: the successor is dead too.
    successor = await client.post(
        "/api/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert successor.status_code == 401


async def test_unknown_refresh_token_is_401(client: Client) -> None:
    response = await client.post("/api/auth/refresh", json={"refresh_token": "made-up"})
    assert response.status_code == 401


async def test_logout_with_a_refresh_token_ends_that_session(client: Client, user: Account) -> None:
    other = await client.post(
        "/api/auth/token", data={"username": user.email, "password": user.password}
    )
    response = await client.post(
        "/api/auth/logout",
        json={"refresh_token": user.tokens["refresh_token"]},
        headers=user.headers,
    )
    assert response.status_code == 204
    assert (
        await client.post("/api/auth/refresh", json={"refresh_token": user.tokens["refresh_token"]})
    ).status_code == 401
    # Another session of the same user is untouched.
    assert (
        await client.post(
            "/api/auth/refresh", json={"refresh_token": other.json()["refresh_token"]}
        )
    ).status_code == 200


async def test_logout_without_a_token_ends_every_session(client: Client, user: Account) -> None:
    response = await client.post("/api/auth/logout", headers=user.headers)
    assert response.status_code == 204
    assert (await client.get("/api/users/me", headers=user.headers)).status_code == 401
    assert (
        await client.post("/api/auth/refresh", json={"refresh_token": user.tokens["refresh_token"]})
    ).status_code == 401
    again = await client.post(
        "/api/auth/token", data={"username": user.email, "password": user.password}
    )
    assert (
        await client.get("/api/users/me", headers=bearer(again.json()["access_token"]))
    ).status_code == 200


async def test_logout_needs_authentication(client: Client) -> None:
    assert (await client.post("/api/auth/logout")).status_code == 401


async def test_missing_or_malformed_authorization_is_401_bearer(
    client: Client, user: Account
) -> None:
    for headers in (
        {},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not.a.jwt"},
    ):
        response = await client.get("/api/users/me", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert isinstance(response.json()["detail"], str)


def _claims(user: Account, **changes: object) -> dict[str, object]:
    now = time.time()
    claims: dict[str, object] = {
        "sub": user.id,
        "iat": now,
        "exp": now + 600,
        "jti": "j",
        "iss": "reflective-server",
        "aud": "reflective-client",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


async def test_forged_tokens_are_refused(client: Client, user: Account) -> None:
    assert (
        await client.get("/api/users/me", headers=bearer(jwt.encode(_claims(user), TEST_SECRET)))
    ).status_code == 200  # the control: a token made right is accepted
    forged = [
        jwt.encode(_claims(user), "not-the-server-secret-" + "y" * 20),
        jwt.encode(_claims(user), None, algorithm="none"),
        jwt.encode(_claims(user), TEST_SECRET, algorithm="HS512"),
        jwt.encode(_claims(user, aud="someone-else"), TEST_SECRET),
        jwt.encode(_claims(user, iss="someone-else"), TEST_SECRET),
        jwt.encode(_claims(user, exp=time.time() - 5), TEST_SECRET),
        jwt.encode(_claims(user, jti=None), TEST_SECRET),
        jwt.encode(_claims(user, sub=str(uuid.uuid4())), TEST_SECRET),  # no such user
        jwt.encode(_claims(user, sub="not-a-uuid"), TEST_SECRET),
    ]
    for token in forged:
        response = await client.get("/api/users/me", headers=bearer(token))
        assert response.status_code == 401, jwt.get_unverified_header(token)
        assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_an_expired_access_token_is_refused(client: Client, user: Account) -> None:
    an_hour_ago = _FixedClock(datetime.now(UTC) - timedelta(hours=1))
    issuer = JwtTokenService(
        TEST_SECRET, "reflective-server", "reflective-client", 1800, an_hour_ago
    )
    response = await client.get(
        "/api/users/me", headers=bearer(issuer.issue_access(uuid.UUID(user.id)))
    )
    assert response.status_code == 401


async def test_password_change_ends_sessions_but_not_the_next_login(
    client: Client, user: Account
) -> None:
    wrong = await client.put(
        "/api/users/me",
        json={"current_password": "nope nope", "password": "new password!"},
        headers=user.headers,
    )
    assert wrong.status_code == 401

    changed = await client.put(
        "/api/users/me",
        json={"current_password": user.password, "password": "new password!"},
        headers=user.headers,
    )
    assert changed.status_code == 200
    assert (await client.get("/api/users/me", headers=user.headers)).status_code == 401
    assert (
        await client.post("/api/auth/refresh", json={"refresh_token": user.tokens["refresh_token"]})
    ).status_code == 401
    old = await client.post(
        "/api/auth/token", data={"username": user.email, "password": user.password}
    )
    assert old.status_code == 401
    # Signed in again within the same second: the new token must work (iat has microseconds).
    new = await client.post(
        "/api/auth/token", data={"username": user.email, "password": "new password!"}
    )
    assert new.status_code == 200
    assert (
        await client.get("/api/users/me", headers=bearer(new.json()["access_token"]))
    ).status_code == 200


async def test_register_then_sign_up_helper(client: Client) -> None:
    account = await sign_up(client, "helper@example.com", "long enough")
    assert account.profile["email"] == "helper@example.com"


async def test_repeated_failures_lock_the_account_with_429_and_retry_after(
    client: Client, user: Account
) -> None:
    wrong = {"username": user.email, "password": "not the password"}
    for _ in range(5):
        assert (await client.post("/api/auth/token", data=wrong)).status_code == 401
    locked = await client.post("/api/auth/token", data=wrong)
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) >= 1
    assert "try again later" in locked.json()["detail"]
    # Even the right password waits until the lockout ends: guessing gains nothing.
    right = {"username": user.email, "password": user.password}
    assert (await client.post("/api/auth/token", data=right)).status_code == 429


async def test_unknown_emails_are_throttled_like_known_ones(client: Client) -> None:
    wrong = {"username": "nobody@example.com", "password": "whatever123"}
    codes = [(await client.post("/api/auth/token", data=wrong)).status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]
