"""The HTTP clients against scripted answers: requests, errors, token refresh, retries."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from reflective_client import calls
from reflective_client.errors import (
    AlreadyExistsError,
    ApiError,
    AuthError,
    ConflictError,
    NotFoundError,
    NotSignedIn,
    RateLimitedError,
    ResyncRequired,
    ServerError,
    StaleResolutionError,
    TierError,
    TransportError,
    ValidationError,
)
from reflective_client.http import AsyncReflectiveClient, ReflectiveClient
from reflective_client.models import EncryptedEntry, Tokens
from reflective_protocol.errors import ErrorCode

Handler = Callable[[httpx.Request], httpx.Response]
UTC = timezone.utc


def error(status: int, detail: Any, code: str) -> httpx.Response:
    return httpx.Response(status, json={"detail": detail, "code": code})


def sync_client(handler: Handler, **kwargs: Any) -> ReflectiveClient:
    return ReflectiveClient(
        "http://api", transport=httpx.MockTransport(handler), backoff=0, **kwargs
    )


def async_client(handler: Handler, **kwargs: Any) -> AsyncReflectiveClient:
    return AsyncReflectiveClient(
        "http://api", transport=httpx.MockTransport(handler), backoff=0, **kwargs
    )


TOKENS = {"access_token": "a1", "refresh_token": "r1", "token_type": "bearer", "expires_in": 1800}


def test_login_is_a_form_with_the_email_as_username() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=TOKENS)

    with sync_client(handler) as api:
        tokens = api.login("ada@example.com", "secret words")
    request = seen[0]
    assert request.url.path == "/api/auth/token"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.content == b"username=ada%40example.com&password=secret+words"
    assert tokens.access_token == "a1" and api.tokens == tokens
    assert "a1" not in repr(tokens) and "r1" not in repr(tokens)


@pytest.mark.parametrize(
    ("response", "kind", "message"),
    [
        (
            error(401, "Incorrect email or password", "not_authenticated"),
            AuthError,
            "Incorrect email or password",
        ),
        (
            error(403, "Sync needs full_sync", "forbidden_by_tier"),
            TierError,
            "Sync needs full_sync",
        ),
        (error(404, "Backup not found", "not_found"), NotFoundError, "Backup not found"),
        (
            error(409, "Email already registered", "email_taken"),
            AlreadyExistsError,
            "Email already registered",
        ),
        (error(410, "Unknown cursor", "resync_required"), ResyncRequired, "Unknown cursor"),
        (
            error(
                422,
                [{"loc": ["body", "email"], "msg": "bad email", "type": "value_error"}],
                "validation_failed",
            ),
            ValidationError,
            "bad email",
        ),
        (httpx.Response(500, text="<html>oops</html>"), ServerError, "HTTP 500"),
    ],
)
def test_errors_map_to_exceptions(response: httpx.Response, kind: type, message: str) -> None:
    with sync_client(lambda r: response, retries=0) as api, pytest.raises(kind) as caught:
        api.call(calls.register("x@example.com", "password"))
    assert message in str(caught.value)
    assert caught.value.status_code == response.status_code
    assert "oops" not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "detail", "code", "kind"),
    [
        (409, "Email already registered", "email_taken", AlreadyExistsError),
        (409, "changed meanwhile", "concurrent_update", AlreadyExistsError),
        (403, "Registration is closed", "registration_closed", ApiError),
        (403, "Sync needs full_sync", "forbidden_by_tier", TierError),
        (429, "Too many requests", "rate_limited", RateLimitedError),
        (503, "busy", "overloaded", ServerError),
        # Only the code decides: a conflict-shaped detail without its code is no ConflictError.
        (
            409,
            {"message": "m", "conflict_id": "c", "log_id": "e"},
            "already_exists",
            AlreadyExistsError,
        ),
        (409, {"message": "m", "conflict_id": "c", "log_id": "e"}, None, ApiError),
        (422, [{"loc": ["body"], "msg": "m", "type": "t"}], "no_such_code_yet", ApiError),
    ],
)
def test_the_code_alone_picks_the_exception(
    status: int, detail: Any, code: str | None, kind: type[ApiError]
) -> None:
    body = {"detail": detail} if code is None else {"detail": detail, "code": code}
    with (
        sync_client(lambda r: httpx.Response(status, json=body), retries=0) as api,
        pytest.raises(ApiError) as caught,
    ):
        api.call(calls.register("x@example.com", "password"))
    assert type(caught.value) is kind
    known = {c.value for c in ErrorCode}
    assert caught.value.code == (ErrorCode(code) if code in known else None)


def test_validation_error_keeps_the_items() -> None:
    items = [{"loc": ["body", "a"], "msg": "one", "type": "t"}, {"loc": [], "msg": "two"}]
    with (
        sync_client(lambda r: error(422, items, "validation_failed")) as api,
        pytest.raises(ValidationError) as caught,
    ):
        api.register("x@example.com", "password")
    assert str(caught.value) == "one; two" and caught.value.errors == items


def test_conflict_carries_its_ids() -> None:
    detail = {"message": "Conflict detected", "conflict_id": "c-1", "log_id": "e-1"}
    entry = EncryptedEntry(
        "e-1", b"ct", b"i" * 12, b"t" * 16, datetime.now(UTC), datetime.now(UTC), "dev"
    )
    with (
        sync_client(lambda r: error(409, detail, "entry_conflict"), tokens=Tokens("a")) as api,
        pytest.raises(ConflictError) as caught,
    ):
        api.upload_backup(entry, base_revision=3)
    assert (caught.value.conflict_id, caught.value.log_id) == ("c-1", "e-1")


def test_a_refused_resolution_is_a_stale_resolution_error() -> None:
    body = {"detail": "This conflict changed", "code": "stale_resolution", "conflict_id": "c-1"}
    with (
        sync_client(lambda r: httpx.Response(409, json=body), tokens=Tokens("a")) as api,
        pytest.raises(StaleResolutionError) as caught,
    ):
        api.resolve_conflict("c-1", "remote")
    assert caught.value.conflict_id == "c-1" and str(caught.value) == "This conflict changed"


def test_upload_body_matches_the_contract() -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(
            201,
            json={
                "id": "e",
                "user_id": "u",
                "created_at": "2026-11-01T10:00:00Z",
                "updated_at": "2026-11-01T10:05:00Z",
                "device_id": "dev",
                "message": "ok",
                "revision": 1,
            },
        )

    moment = datetime(2026, 11, 1, 10, 0, 0, 123456, tzinfo=UTC)
    entry = EncryptedEntry("e", b"\x00\xff", b"i" * 12, b"t" * 16, moment, moment, "dev")
    with sync_client(handler, tokens=Tokens("a")) as api:
        stored = api.upload_backup(entry)
    assert bodies[0] == {
        "id": "e",
        "encrypted_content": "AP8=",
        "content_iv": "aWlpaWlpaWlpaWlp",
        "content_tag": "dHR0dHR0dHR0dHR0dHR0dA==",
        "created_at": "2026-11-01T10:00:00.123Z",
        "updated_at": "2026-11-01T10:00:00.123Z",
        "device_id": "dev",
    }
    assert stored.revision == 1 and stored.updated_at.tzinfo is not None


def test_protected_calls_need_a_token() -> None:
    with sync_client(lambda r: httpx.Response(200, json={})) as api, pytest.raises(NotSignedIn):
        api.me()


async def test_expired_access_token_is_refreshed_once_and_persisted() -> None:
    saved: list[Tokens | None] = []
    log: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        log.append(f"{request.method} {request.url.path} {request.headers.get('authorization')}")
        if request.url.path == "/api/auth/refresh":
            assert json.loads(request.content) == {"refresh_token": "r1"}
            return httpx.Response(200, json={**TOKENS, "access_token": "a2", "refresh_token": "r2"})
        if request.headers.get("authorization") == "Bearer a1":
            return error(401, "Token expired", "not_authenticated")
        return httpx.Response(200, json={"current_tier": "local_only", "sync_enabled": False})

    async with async_client(handler, tokens=Tokens.parse(TOKENS), on_tokens=saved.append) as api:
        privacy = await api.privacy()
    assert privacy.current_tier == "local_only"
    assert log == [
        "GET /api/users/me/privacy Bearer a1",
        "POST /api/auth/refresh None",
        "GET /api/users/me/privacy Bearer a2",
    ]
    assert saved and saved[-1] is not None and saved[-1].refresh_token == "r2"


def test_a_refused_refresh_signs_out() -> None:
    saved: list[Tokens | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        return error(
            401,
            "Invalid refresh token" if "refresh" in request.url.path else "expired",
            "not_authenticated",
        )

    with sync_client(handler, tokens=Tokens.parse(TOKENS), on_tokens=saved.append) as api:
        with pytest.raises(AuthError):
            api.me()
        assert api.tokens is None and saved[-1] is None


def test_idempotent_calls_are_retried_on_network_errors_and_503() -> None:
    attempts: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        if len(attempts) == 1:
            raise httpx.ConnectError("refused", request=request)
        if len(attempts) == 2:
            return httpx.Response(
                503, headers={"Retry-After": "0"}, json={"detail": "busy", "code": "overloaded"}
            )
        return httpx.Response(200, json={"status": "ok"})

    with sync_client(handler) as api:
        assert api.health() == {"status": "ok"}
    assert len(attempts) == 3


def test_metric_uploads_are_never_retried_blindly() -> None:
    attempts: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        raise httpx.ReadTimeout("slow", request=request)

    with sync_client(handler, tokens=Tokens("a")) as api, pytest.raises(TransportError) as caught:
        api.upload_metrics([])
    assert len(attempts) == 1
    assert "ReadTimeout" in str(caught.value) and "http://" not in str(caught.value)


def test_aggregate_keeps_microseconds_of_an_inclusive_range() -> None:
    call = calls.aggregate(
        "word_count",
        "sum",
        datetime(2026, 11, 2, tzinfo=UTC),
        datetime(2026, 11, 8, 23, 59, 59, 999999, tzinfo=UTC),
    )
    assert call.json["time_range"] == {
        "start": "2026-11-02T00:00:00Z",
        "end": "2026-11-08T23:59:59.999999Z",
    }
    with pytest.raises(ValueError):
        calls.aggregate("word_count", "sum", datetime(2026, 11, 2, tzinfo=UTC))


def test_merged_resolution_needs_its_content() -> None:
    with pytest.raises(ValueError):
        calls.resolve_conflict("c", "merged")
    with pytest.raises(ValueError):
        calls.resolve_conflict("c", "newest")
    assert calls.resolve_conflict("c", "remote", device_id="d").json == {
        "chosen_version": "remote",
        "device_id": "d",
    }
