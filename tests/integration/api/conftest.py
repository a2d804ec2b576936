"""The real app over PostgreSQL (helper fixtures in tests/integration/conftest.py): one app,
one engine, one lifespan per session; every table emptied before each test.

Argon2 runs with tiny parameters here; everything else is what production runs.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from dependency_injector import providers
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncEngine

from reflective_adapters.security import Argon2PasswordHasher
from reflective_app.container import Container
from reflective_app.main import create_app
from reflective_app.settings import Settings

TEST_SECRET = "test-secret-key-" + "x" * 48
HE_VECTORS = Path(__file__).parents[2] / "data" / "he_ckks_node_seal_6.json"
HE_LEAN_VECTORS = Path(__file__).parents[2] / "data" / "he_ckks_node_seal_6_lean.json"

Client = httpx.AsyncClient


def fast_hasher() -> Argon2PasswordHasher:
    return Argon2PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="session")
def api_settings(tmp_path_factory: pytest.TempPathFactory, pg_database_url: str) -> Settings:
    return Settings(
        secret_key=TEST_SECRET,
        data_dir=tmp_path_factory.mktemp("api-data"),
        database_url=pg_database_url,
        log_level="INFO",
        # Suites that call a route many times per test (the hostile-body properties read the
        # export after every example) run without rate limits; test_rate_limits.py turns each
        # one on with app_with(rate_limit_...=...).
        rate_limit_register=(0, 1),
        rate_limit_refresh=(0, 1),
        rate_limit_aggregate=(0, 1),
        rate_limit_metrics_upload=(0, 1),
        rate_limit_export=(0, 1),
    )


def make_container(settings: Settings, engine: AsyncEngine) -> Container:
    """A production container on the test database (already migrated by the fixtures)."""
    container = Container()
    container.settings.override(providers.Object(settings))
    container.database_url.override(providers.Object(settings.database_url))
    container.engine.override(providers.Object(engine))
    container.hasher.override(providers.Singleton(fast_hasher))
    return container


@pytest.fixture(scope="session")
def api_container(api_settings: Settings, pg_engine: AsyncEngine) -> Container:
    return make_container(api_settings, pg_engine)


@asynccontextmanager
async def serve(app: Litestar) -> AsyncIterator[Client]:
    """The app, started (lifespan) and reached in-process on this event loop.

    httpx's ASGI transport rather than Litestar's AsyncTestClient, which runs the app on a
    loop of its own in another thread, where the session's engine cannot be used. The
    lifespan runs in a task of its own: a session fixture is torn down in another task, and
    the lifespan's cancel scopes must be left in the task that entered them."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def run_lifespan() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    lifespan = asyncio.create_task(run_lifespan())
    await asyncio.wait(
        [lifespan, asyncio.create_task(started.wait())], return_when="FIRST_COMPLETED"
    )
    if lifespan.done():
        lifespan.result()  # startup failed: raise its error
    try:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
    finally:
        stop.set()
        await lifespan


@pytest.fixture(scope="session")
async def session_client(api_container: Container) -> AsyncIterator[Client]:
    async with serve(create_app(api_container)) as client:
        yield client


@pytest.fixture
async def client(session_client: Client, pg_clean: None) -> Client:
    return session_client


@pytest.fixture
def app_with(
    api_settings: Settings, pg_engine: AsyncEngine, pg_clean: None
) -> Callable[..., AbstractAsyncContextManager[Client]]:
    """``async with app_with(max_body_bytes=...) as client``: another app on the same
    database, with other settings."""

    def build(**changes: Any) -> AbstractAsyncContextManager[Client]:
        settings = replace(api_settings, **changes)
        return serve(create_app(make_container(settings, pg_engine)))

    return build


# --- helpers acting as the web client --------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Account:
    """A registered, signed-in user."""

    def __init__(self, email: str, password: str, tokens: dict[str, Any], profile: dict[str, Any]):
        self.email, self.password = email, password
        self.tokens, self.profile = tokens, profile

    @property
    def id(self) -> str:
        return str(self.profile["id"])

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.tokens["access_token"])


async def sign_up(
    client: Client, email: str = "ada@example.com", password: str = "correct horse"
) -> Account:
    created = await client.post("/api/auth/register", json={"email": email, "password": password})
    assert created.status_code == 201, created.text
    login = await client.post("/api/auth/token", data={"username": email, "password": password})
    assert login.status_code == 200, login.text
    return Account(email, password, login.json(), created.json())


@pytest.fixture
async def user(client: Client) -> Account:
    return await sign_up(client)


@pytest.fixture
async def other_user(client: Client) -> Account:
    return await sign_up(client, "grace@example.com", "another secret")


@pytest.fixture(scope="session")
def he_vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(HE_VECTORS.read_text())
    return data


@pytest.fixture(scope="session")
def he_lean_vectors() -> dict[str, Any]:
    """node-seal vectors under the lean parameters announced to new keys."""
    data: dict[str, Any] = json.loads(HE_LEAN_VECTORS.read_text())
    return data


async def set_tier(
    client: Client, account: Account, tier: str, he_public_key: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"privacy_tier": tier, "consent_timestamp": "2026-11-01T10:00:00Z"}
    if he_public_key is not None:
        body["he_public_key"] = he_public_key
    response = await client.put("/api/users/me/privacy", json=body, headers=account.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
