"""The HTTP client against scripted answers: requests, errors, token refresh, retries."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import httpx
import msgspec
import pytest

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
from reflective_client.http import AsyncReflectiveClient
from reflective_client.models import EncryptedEntry, Tokens
from reflective_protocol.errors import ErrorCode
from reflective_protocol.privacy import FeaturesView, PrivacyView, Tier

Handler = Callable[[httpx.Request], httpx.Response]
UTC = timezone.utc
ENTRY_ID = "6f1c8a52-2d0c-4a57-9b6e-5a4f0d3c2b1a"
CONFLICT_ID = "0b7e4d7e-3f1a-4c36-8a55-7f2c9e1d4b60"


def error(status: int, detail: Any, code: str) -> httpx.Response:
    return httpx.Response(status, json={"detail": detail, "code": code})


def client(handler: Handler, **kwargs: Any) -> AsyncReflectiveClient:
    return AsyncReflectiveClient(
        "http://api", transport=httpx.MockTransport(handler), backoff=0, **kwargs
    )


def recording(answer: httpx.Response) -> tuple[list[httpx.Request], Handler]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer

    return seen, handler


TOKENS = {"access_token": "a1", "refresh_token": "r1", "token_type": "bearer", "expires_in": 1800}
ACK = {"success": True, "message": "ok", "details": {}}


async def test_login_is_a_form_with_the_email_as_username() -> None:
    seen, handler = recording(httpx.Response(200, json=TOKENS))
    async with client(handler) as api:
        tokens = await api.login("ada@example.com", "secret words")
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
async def test_errors_map_to_exceptions(response: httpx.Response, kind: type, message: str) -> None:
    async with client(lambda r: response, retries=0) as api:
        with pytest.raises(kind) as caught:
            await api.register("x@example.com", "password")
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
async def test_the_code_alone_picks_the_exception(
    status: int, detail: Any, code: str | None, kind: type[ApiError]
) -> None:
    body = {"detail": detail} if code is None else {"detail": detail, "code": code}
    async with client(lambda r: httpx.Response(status, json=body), retries=0) as api:
        with pytest.raises(ApiError) as caught:
            await api.register("x@example.com", "password")
    assert type(caught.value) is kind
    known = {c.value for c in ErrorCode}
    assert caught.value.code == (ErrorCode(code) if code in known else None)


async def test_validation_error_keeps_the_items() -> None:
    items = [{"loc": ["body", "a"], "msg": "one", "type": "t"}, {"loc": [], "msg": "two"}]
    async with client(lambda r: error(422, items, "validation_failed")) as api:
        with pytest.raises(ValidationError) as caught:
            await api.register("x@example.com", "password")
    assert str(caught.value) == "one; two" and caught.value.errors == items


def entry(moment: datetime | None = None) -> EncryptedEntry:
    moment = moment or datetime.now(UTC)
    return EncryptedEntry(ENTRY_ID, b"\x00\xff", b"i" * 12, b"t" * 16, moment, moment, "dev")


async def test_conflict_carries_its_ids() -> None:
    detail = {"message": "Conflict detected", "conflict_id": "c-1", "log_id": "e-1"}
    async with client(lambda r: error(409, detail, "entry_conflict"), tokens=Tokens("a")) as api:
        with pytest.raises(ConflictError) as caught:
            await api.upload_backup(entry(), base_revision=3)
    assert (caught.value.conflict_id, caught.value.log_id) == ("c-1", "e-1")


async def test_a_refused_resolution_is_a_stale_resolution_error() -> None:
    body = {"detail": "This conflict changed", "code": "stale_resolution", "conflict_id": "c-1"}
    async with client(lambda r: httpx.Response(409, json=body), tokens=Tokens("a")) as api:
        with pytest.raises(StaleResolutionError) as caught:
            await api.resolve_conflict(CONFLICT_ID, "remote")
    assert caught.value.conflict_id == "c-1" and str(caught.value) == "This conflict changed"


async def test_upload_body_matches_the_contract() -> None:
    stored = {
        "id": ENTRY_ID,
        "user_id": "9d2f1c3e-6a7b-4c8d-9e0f-1a2b3c4d5e6f",
        "created_at": "2026-11-01T10:00:00Z",
        "updated_at": "2026-11-01T10:05:00Z",
        "device_id": "dev",
        "message": "ok",
        "revision": 1,
    }
    seen, handler = recording(httpx.Response(201, json=stored))
    moment = datetime(2026, 11, 1, 10, 0, 0, 123456, tzinfo=UTC)
    async with client(handler, tokens=Tokens("a")) as api:
        answer = await api.upload_backup(entry(moment))
    assert seen[0].headers["content-type"] == "application/json"
    assert json.loads(seen[0].content) == {
        "id": ENTRY_ID,
        "encrypted_content": "AP8=",
        "content_iv": "aWlpaWlpaWlpaWlp",
        "content_tag": "dHR0dHR0dHR0dHR0dHR0dA==",
        "created_at": "2026-11-01T10:00:00.123456Z",
        "updated_at": "2026-11-01T10:00:00.123456Z",
        "device_id": "dev",
    }
    assert answer.revision == 1 and answer.updated_at.tzinfo is not None


async def test_protected_calls_need_a_token() -> None:
    async with client(lambda r: httpx.Response(200, json={})) as api:
        with pytest.raises(NotSignedIn):
            await api.me()


# The answer of a local_only account: local features only.
PRIVACY = msgspec.to_builtins(
    PrivacyView(Tier.LOCAL_ONLY, False, None, FeaturesView(*[True] * 3, *[False] * 4))
)


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
        return httpx.Response(200, json=PRIVACY)

    async with client(handler, tokens=Tokens("a1", "r1"), on_tokens=saved.append) as api:
        privacy = await api.privacy()
    assert privacy.current_tier == "local_only"
    assert log == [
        "GET /api/users/me/privacy Bearer a1",
        "POST /api/auth/refresh None",
        "GET /api/users/me/privacy Bearer a2",
    ]
    assert saved and saved[-1] is not None and saved[-1].refresh_token == "r2"


async def test_a_refused_refresh_signs_out() -> None:
    saved: list[Tokens | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        return error(
            401,
            "Invalid refresh token" if "refresh" in request.url.path else "expired",
            "not_authenticated",
        )

    async with client(handler, tokens=Tokens("a1", "r1"), on_tokens=saved.append) as api:
        with pytest.raises(AuthError):
            await api.me()
        assert api.tokens is None and saved[-1] is None


async def test_idempotent_calls_are_retried_on_network_errors_and_503() -> None:
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

    async with client(handler) as api:
        assert (await api.health()).status == "ok"
    assert len(attempts) == 3


async def test_metric_uploads_are_never_retried_blindly() -> None:
    attempts: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        raise httpx.ReadTimeout("slow", request=request)

    async with client(handler, tokens=Tokens("a")) as api:
        with pytest.raises(TransportError) as caught:
            await api.upload_metrics([])
    assert len(attempts) == 1
    assert "ReadTimeout" in str(caught.value) and "http://" not in str(caught.value)


async def test_aggregate_keeps_microseconds_of_an_inclusive_range() -> None:
    answer = {
        "metric_type": "word_count",
        "encrypted_result": "AA==",
        "count": 1,
        "operation": "sum",
    }
    seen, handler = recording(httpx.Response(200, json=answer))
    async with client(handler, tokens=Tokens("a")) as api:
        await api.aggregate(
            "word_count",
            "sum",
            datetime(2026, 11, 2, tzinfo=UTC),
            datetime(2026, 11, 8, 23, 59, 59, 999999, tzinfo=UTC),
        )
        with pytest.raises(ValueError):
            await api.aggregate("word_count", "sum", datetime(2026, 11, 2, tzinfo=UTC))
    assert json.loads(seen[0].content)["time_range"] == {
        "start": "2026-11-02T00:00:00Z",
        "end": "2026-11-08T23:59:59.999999Z",
    }
    assert len(seen) == 1  # the half range was refused before sending


async def test_merged_resolution_needs_its_content() -> None:
    seen, handler = recording(httpx.Response(200, json=ACK))
    async with client(handler, tokens=Tokens("a")) as api:
        with pytest.raises(ValueError):
            await api.resolve_conflict(CONFLICT_ID, "merged")
        with pytest.raises(ValueError):
            await api.resolve_conflict(CONFLICT_ID, "newest")
        await api.resolve_conflict(CONFLICT_ID, "remote", device_id="d")
    assert [json.loads(r.content) for r in seen] == [{"chosen_version": "remote", "device_id": "d"}]


async def test_a_resolution_sends_what_the_listing_showed() -> None:
    """The listed ``remote_revision`` and ``generation`` travel back with the resolution,
    so the server can refuse it when either side changed since."""
    version = {
        "encrypted_content": "AP8=",
        "iv": "aWlpaWlpaWlpaWlp",
        "tag": None,
        "updated_at": "2026-11-01T10:00:00Z",
        "device_id": "dev",
    }
    listed = {
        "conflicts": [
            {
                "id": CONFLICT_ID,
                "log_id": ENTRY_ID,
                "local_version": version,
                "remote_version": version,
                "detected_at": "2026-11-01T10:01:00Z",
                "remote_revision": 4,
                "generation": 2,
            }
        ],
        "total_count": 1,
        "has_more": False,
    }
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=listed if request.method == "GET" else ACK)

    async with client(handler, tokens=Tokens("a")) as api:
        (conflict,) = await api.conflicts()
        await api.resolve_conflict(
            conflict.id,
            "local",
            remote_revision=conflict.remote_revision,
            generation=conflict.generation,
        )
    assert (conflict.remote_revision, conflict.generation) == (4, 2)
    assert seen[1].url.path == f"/api/sync/conflicts/{CONFLICT_ID}/resolve"
    assert json.loads(seen[1].content) == {
        "chosen_version": "local",
        "remote_revision": 4,
        "generation": 2,
    }


async def test_an_answer_missing_a_field_is_refused_not_guessed() -> None:
    async with client(lambda r: httpx.Response(200, json={"status": 1})) as api:
        with pytest.raises(msgspec.ValidationError, match="Expected `str`"):
            await api.health()
