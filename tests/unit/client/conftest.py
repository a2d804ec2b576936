"""Client unit tests: vectors, and an in-memory server for the sync tests.

The in-memory server is the real ASGI app (controllers, DTOs, error mapping, domain rules,
SEAL validation) with the memory repositories in place of PostgreSQL: fast enough for
unit tests, and faithful to the contract.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from dependency_injector import providers

from reflective_adapters.memory import MemoryStore, MemoryUnitOfWork
from reflective_adapters.security import Argon2PasswordHasher
from reflective_app.container import Container
from reflective_app.main import create_app
from reflective_app.settings import Settings
from reflective_client.crypto.envelope import KdfCost
from reflective_client.device import Device
from reflective_client.http import AsyncReflectiveClient
from reflective_client.keystore import MemoryKeyStore
from reflective_client.store import LocalStore

DATA = Path(__file__).parents[2] / "data"
FAST_KDF = KdfCost(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="session")
def aes_vectors() -> dict[str, Any]:
    return json.loads((DATA / "aes_gcm_web_client.json").read_text())


@pytest.fixture(scope="session")
def he_vectors() -> dict[str, Any]:
    return json.loads((DATA / "he_ckks_node_seal_6.json").read_text())


def memory_app(tmp: Path) -> Any:
    container = Container()
    container.settings.override(
        providers.Object(
            Settings(secret_key="unit-test-secret-" + "x" * 40, data_dir=tmp, log_level="INFO")
        )
    )
    # No database: the memory repositories stand in for PostgreSQL.
    container.database_url.override(providers.Object("postgresql://unused/unused"))
    container.engine.override(providers.Object(None))
    store = MemoryStore()
    container.uow_factory.override(providers.Object(lambda: MemoryUnitOfWork(store)))
    container.hasher.override(
        providers.Singleton(
            lambda: Argon2PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        )
    )
    return create_app(container)


class FlakyTransport(httpx.AsyncBaseTransport):
    """An in-process transport that can lose answers: the server handles the request, then
    the client sees a network error (what a dropped connection after the commit looks like).
    ``drop_before`` fails requests before they reach the server."""

    def __init__(self, app: Any) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.lose: list[Callable[[httpx.Request], bool]] = []
        self.drop_before: list[Callable[[httpx.Request], bool]] = []
        self.requests: list[tuple[str, str]] = []

    def lose_answer_once(self, method: str, path_part: str) -> None:
        self.lose.append(lambda r: r.method == method and path_part in r.url.path)

    def fail_once(self, method: str, path_part: str) -> None:
        self.drop_before.append(lambda r: r.method == method and path_part in r.url.path)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        for rule in list(self.drop_before):
            if rule(request):
                self.drop_before.remove(rule)
                raise httpx.ConnectError("dropped before sending", request=request)
        response = await self.inner.handle_async_request(request)
        for rule in list(self.lose):
            if rule(request):
                self.lose.remove(rule)
                await response.aread()
                raise httpx.ReadError("answer lost", request=request)
        return response


@pytest.fixture
def transport(tmp_path: Path) -> FlakyTransport:
    return FlakyTransport(memory_app(tmp_path))


def new_device(
    transport: httpx.AsyncBaseTransport, keystore: MemoryKeyStore | None = None
) -> Device:
    api = AsyncReflectiveClient("http://testserver", transport=transport, backoff=0.0, retries=0)
    return Device(api, LocalStore.in_memory(), keystore or MemoryKeyStore())


@pytest.fixture
async def two_devices(
    transport: FlakyTransport, tmp_path: Path
) -> AsyncIterator[tuple[Device, Device]]:
    """A laptop and a phone of one full_sync account, sharing keys."""
    laptop = new_device(transport)
    await laptop.register("writer@example.com", "correct horse battery")
    await laptop.set_tier("full_sync")
    phone = new_device(transport, MemoryKeyStore(laptop.keys))
    await phone.login("writer@example.com", "correct horse battery")
    yield laptop, phone
    await laptop.api.aclose()
    await phone.api.aclose()
