"""The client against the real app over PostgreSQL (helper fixtures of
tests/integration/conftest.py): each test gets a database of its own, migrated, so the audit
can dump exactly what one scenario left behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from dependency_injector import providers
from litestar import Litestar

from reflective_adapters.postgres import migrate
from reflective_adapters.security import Argon2PasswordHasher
from reflective_app.container import Container
from reflective_app.main import create_app
from reflective_app.settings import Settings
from reflective_client.device import Device
from reflective_client.http import AsyncReflectiveClient
from reflective_client.keystore import MemoryKeyStore
from reflective_client.store import LocalStore

SECRET = "client-integration-secret-" + "y" * 40
ASGI = Callable[[dict[str, Any], Any, Any], Any]


def fast_hasher() -> Argon2PasswordHasher:
    return Argon2PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def build_app(database_url: str, data_dir: Path, log_level: str = "INFO") -> Litestar:
    """A production container on ``database_url``: the app's own startup connects to it
    (and finds it migrated)."""
    container = Container()
    settings = Settings(
        secret_key=SECRET, data_dir=data_dir, database_url=database_url, log_level=log_level
    )
    container.settings.override(providers.Object(settings))
    container.hasher.override(providers.Singleton(fast_hasher))
    return create_app(container)


@asynccontextmanager
async def running(app: Litestar) -> AsyncIterator[None]:
    """The app's lifespan, in a task of its own (its cancel scopes must stay in one task)."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def lifespan() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(lifespan())
    await asyncio.wait([task, asyncio.create_task(started.wait())], return_when="FIRST_COMPLETED")
    if task.done():
        task.result()
    try:
        yield
    finally:
        stop.set()
        await task


@dataclass
class Server:
    app: Litestar
    database_url: str
    asgi: ASGI  # what the transport calls: the app, or a wrapper around it

    def transport(self) -> httpx.AsyncBaseTransport:
        return httpx.ASGITransport(app=self.asgi)  # type: ignore[arg-type]


@pytest.fixture
def start_server(pg_database_factory: Callable[[str], Any], tmp_path: Path) -> Callable[..., Any]:
    """``async with start_server(log_level=..., wrap=...) as server``: the app on a fresh,
    migrated database."""

    @asynccontextmanager
    async def start(
        log_level: str = "INFO", wrap: Callable[[ASGI], ASGI] | None = None
    ) -> AsyncIterator[Server]:
        url = await pg_database_factory("client")
        await asyncio.to_thread(migrate.upgrade, url)
        app = build_app(url, tmp_path / "server-data", log_level)
        async with running(app):
            yield Server(app, url, wrap(app) if wrap else app)  # type: ignore[arg-type]

    return start


def new_device(server: Server, directory: Path, keys: MemoryKeyStore | None = None) -> Device:
    api = AsyncReflectiveClient("http://testserver", transport=server.transport(), backoff=0.0)
    store = LocalStore(directory / "local.sqlite3", device_prefix=directory.name)
    return Device(api, store, keys or MemoryKeyStore())


async def close(*devices: Device) -> None:
    for device in devices:
        await device.api.aclose()
        device.store.close()
