"""The CLI commands that run the app: dev-reset (for real, on the test database) and serve's
refusals."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from reflective_app.commands.dev_reset import DEMO_USERS, dev_reset, reset
from reflective_app.commands.serve import serve
from reflective_app.settings import Settings
from tests.integration.api.conftest import Client, sign_up


async def test_dev_reset_empties_and_creates_demo_users(
    client: Client, api_settings: Settings, tmp_path: Path
) -> None:
    existing = await sign_up(client, "someone@example.com", "long enough")
    await reset(replace(api_settings, data_dir=tmp_path))
    gone = await client.post(
        "/api/auth/token", data={"username": existing.email, "password": existing.password}
    )
    assert gone.status_code == 401
    for email, password, _ in DEMO_USERS:
        login = await client.post("/api/auth/token", data={"username": email, "password": password})
        assert login.status_code == 200, email


@pytest.fixture
def keep_log_level() -> Iterator[None]:
    """The commands configure logging for their process; restore it for the other tests."""
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)


@pytest.mark.usefixtures("keep_log_level")
def test_dev_reset_asks_first_and_refuses_production(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"REFLECTIVE_DATA_DIR": str(tmp_path), "DATABASE_URL": "postgresql://unused/x"}
    declined = runner.invoke(dev_reset, [], input="n\n", env=env)
    assert declined.exit_code == 1 and "Aborted" in declined.output
    production = runner.invoke(
        dev_reset, ["--yes"], env={**env, "REFLECTIVE_ENV": "production", "SECRET_KEY": "s" * 40}
    )
    assert production.exit_code == 1 and "production" in production.output


@pytest.mark.usefixtures("keep_log_level")
def test_serve_refuses_production_without_a_secret(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        serve,
        [],
        env={
            "REFLECTIVE_DATA_DIR": str(tmp_path),
            "REFLECTIVE_ENV": "production",
            "SECRET_KEY": "",
        },
    )
    assert result.exit_code == 2  # a configuration error
    assert "SECRET_KEY is not set" in result.output
