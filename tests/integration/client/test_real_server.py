"""Over a real socket: the server in a child process (what `reflective demo` starts), the
client, and the demo itself."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reflective_adapters.postgres import migrate
from reflective_client.crypto.keys import UserKeys
from reflective_client.demo import demo
from reflective_client.errors import AuthError, NotFoundError
from reflective_client.http import AsyncReflectiveClient
from reflective_client.models import context_parameters
from reflective_client.server import ServerProcess
from reflective_client.wire import now
from reflective_protocol.encryption import MetricItem


@pytest.fixture
async def database_url(pg_database_factory: Any) -> str:
    url: str = await pg_database_factory("process")
    await asyncio.to_thread(migrate.upgrade, url)
    return url


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "server", database_url=database_url)
    process.start(timeout=60)
    yield process
    process.stop()


async def test_the_client_over_a_socket(server: ServerProcess) -> None:
    async with AsyncReflectiveClient(server.url) as api:
        assert (await api.health()).status == "ok"
        await api.register("socket@example.com", "correct horse battery")
        with pytest.raises(AuthError, match="Incorrect email or password"):
            await api.login("socket@example.com", "wrong password!")
        await api.login("socket@example.com", "correct horse battery")
        assert (await api.me()).privacy_tier == "local_only"

        keys = UserKeys.generate(context_parameters(await api.encryption_context()))
        assert keys.he is not None
        privacy = await api.set_privacy("analytics_sync", keys.he.public_key)
        assert privacy.current_tier == "analytics_sync"
        ckks = keys.ckks
        uploads = [MetricItem("word_count", ckks.encrypt(v), now()) for v in (120, 80, 45)]
        assert await api.upload_metrics(uploads) == 3
        result = await api.aggregate("word_count", "average")
        assert result.count == 3
        assert ckks.decrypt(result.encrypted_result) == pytest.approx(245 / 3, abs=1e-3)
        with pytest.raises(NotFoundError):
            await api.aggregate("sentiment_score")
        await api.refresh()  # rotation: a new pair, and the client keeps working with it
        assert (await api.me()).email == "socket@example.com"
        await api.logout()
    assert "correct horse battery" not in server.log_text()


def test_the_demo_runs_against_a_server(server: ServerProcess) -> None:
    result = CliRunner().invoke(demo, ["--server", server.url], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for step in ("1. The laptop registers", "4. Both edit", "6. The phone deletes", "tombstone"):
        assert step in result.output
    assert "Demo account deleted" in result.output


@pytest.mark.slow
def test_the_demo_starts_a_throwaway_embedded_server_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the quick start runs: `reflective demo` with nothing set (as root too, where the
    embedded PostgreSQL runs as its own user and must reach the demo's directory)."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = CliRunner().invoke(demo, [], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Demo account deleted" in result.output
