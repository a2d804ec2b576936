"""Operations routes, the OpenAPI document, request ids, CORS."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from tests.integration.api.conftest import Account, Client

# Every route of the contract, as the OpenAPI document must list it.
CONTRACT_ROUTES = {
    ("post", "/api/auth/register"),
    ("post", "/api/auth/token"),
    ("post", "/api/auth/refresh"),
    ("post", "/api/auth/logout"),
    ("get", "/api/users/me"),
    ("put", "/api/users/me"),
    ("delete", "/api/users/me"),
    ("get", "/api/users/me/preferences"),
    ("put", "/api/users/me/preferences"),
    ("get", "/api/users/me/privacy"),
    ("put", "/api/users/me/privacy"),
    ("delete", "/api/users/me/privacy/revoke"),
    ("get", "/api/users/me/export"),
    ("get", "/api/tags"),
    ("post", "/api/tags"),
    ("delete", "/api/tags/cleanup"),
    ("patch", "/api/tags/{tag_id}"),
    ("delete", "/api/tags/{tag_id}"),
    ("get", "/api/encryption/context"),
    ("post", "/api/encryption/metrics"),
    ("post", "/api/encryption/aggregate"),
    ("post", "/api/sync/backup"),
    ("get", "/api/sync/backups"),
    ("get", "/api/sync/changes"),
    ("delete", "/api/sync/backup/{backup_id}"),
    ("delete", "/api/sync/backup/content"),
    ("delete", "/api/sync/metrics/all"),
    ("get", "/api/sync/conflicts"),
    ("post", "/api/sync/conflicts/{conflict_id}/resolve"),
    ("get", "/api/health"),
    ("get", "/api/health/ready"),
    ("get", "/api/metrics"),
    ("get", "/"),
}


async def test_root_names_the_service(client: Client) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.json()["service"] == "reflective-server"
    assert response.json()["version"]


async def test_health_and_readiness(client: Client) -> None:
    assert (await client.get("/api/health")).json() == {"status": "ok"}
    ready = await client.get("/api/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "he": "ok"}}


async def test_prometheus_metrics(client: Client, user: Account) -> None:
    await client.get("/api/users/me", headers=user.headers)
    response = await client.get("/api/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "reflective_requests_total" in text
    assert 'path="/api/users/me"' in text
    me = 'app_name="reflective",method="GET",path="/api/users/me",status_code="200"'
    assert f"reflective_request_duration_seconds_count{{{me}}}" in text
    assert "reflective_requests_in_progress" in text
    # The scrape itself is not counted.
    assert 'path="/api/metrics"' not in text
    assert user.email not in text and user.id not in text


async def test_swagger_ui_and_openapi_list_every_route(client: Client) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    schema = (await client.get("/docs/openapi.json")).json()
    listed = {(method, path) for path, item in schema["paths"].items() for method in item}
    assert listed >= CONTRACT_ROUTES, CONTRACT_ROUTES - listed
    operation_ids = [op["operationId"] for item in schema["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))
    upload = schema["paths"]["/api/encryption/metrics"]["post"]
    assert "metrics" in upload["requestBody"]["content"]["application/json"]["schema"]["properties"]
    token = schema["paths"]["/api/auth/token"]["post"]["requestBody"]["content"]
    assert "application/x-www-form-urlencoded" in token
    assert schema["paths"]["/api/users/me"]["get"]["security"]


async def test_request_id_is_echoed_or_made(client: Client) -> None:
    given = await client.get("/api/health", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    made = await client.get("/api/health")
    assert len(made.headers["X-Request-ID"]) >= 16
    unsafe = await client.get("/api/health", headers={"X-Request-ID": "a b\tc" * 30})
    assert unsafe.headers["X-Request-ID"] != "a b\tc" * 30


async def test_unknown_route_and_method(client: Client) -> None:
    missing = await client.get("/api/nothing-here")
    assert missing.status_code == 404 and isinstance(missing.json()["detail"], str)
    wrong_method = await client.put("/api/health")
    assert wrong_method.status_code == 405 and "detail" in wrong_method.json()


async def test_no_cors_unless_configured(
    client: Client, app_with: Callable[..., AbstractAsyncContextManager[Client]]
) -> None:
    plain = await client.get("/api/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in plain.headers
    async with app_with(cors_origins=("https://app.example",)) as cors_client:
        preflight = await cors_client.options(
            "/api/users/me",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "Authorization",
            },
        )
        assert preflight.status_code in (200, 204)
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        other = await cors_client.get("/api/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
