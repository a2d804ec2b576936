"""Administration: `reflective users ...` on the real database, closed registration, and
disabled accounts (no sign-in, no token accepted)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from click.testing import CliRunner, Result

from reflective_app.cli import main
from reflective_app.settings import Settings
from tests.integration.api.conftest import Account, Client, bearer, sign_up

AppWith = Callable[..., AbstractAsyncContextManager[Client]]


async def users_cli(
    api_settings: Settings, tmp_path: Path, *args: str, stdin: str | None = None, **env: str
) -> Result:
    """`reflective users ARGS` against the test database, in a thread (it runs its own loop)."""
    assert api_settings.database_url is not None
    environment = {
        "DATABASE_URL": api_settings.database_url,
        "REFLECTIVE_DATA_DIR": str(tmp_path),
        "LOG_FORMAT": "json",
        **env,
    }
    return await asyncio.to_thread(
        CliRunner().invoke, main, ["users", *args], env=environment, input=stdin
    )


async def sign_in(client: Client, email: str, password: str) -> int:
    response = await client.post("/api/auth/token", data={"username": email, "password": password})
    return response.status_code


async def test_closed_registration_refuses_with_a_clear_detail_and_admins_still_create(
    app_with: AppWith, api_settings: Settings, tmp_path: Path
) -> None:
    async with app_with(registration_open=False) as client:
        refused = await client.post(
            "/api/auth/register", json={"email": "new@example.com", "password": "long enough"}
        )
        assert refused.status_code == 403
        detail = refused.json()["detail"]
        assert isinstance(detail, str) and "Registration is closed" in detail

        created = await users_cli(
            api_settings,
            tmp_path,
            "create",
            "new@example.com",
            stdin="long enough\nlong enough\n",
            REGISTRATION_OPEN="false",
        )
        assert created.exit_code == 0, created.output
        assert "created new@example.com" in created.output
        assert await sign_in(client, "new@example.com", "long enough") == 200


async def test_open_registration_is_the_default(client: Client) -> None:
    await sign_up(client, "open@example.com")


async def test_disabled_user_cannot_sign_in_or_use_existing_tokens(
    client: Client, user: Account, api_settings: Settings, tmp_path: Path
) -> None:
    assert (await client.get("/api/users/me", headers=user.headers)).status_code == 200

    disabled = await users_cli(api_settings, tmp_path, "disable", user.email)
    assert disabled.exit_code == 0, disabled.output

    assert (await client.get("/api/users/me", headers=user.headers)).status_code == 401
    refreshed = await client.post(
        "/api/auth/refresh", json={"refresh_token": user.tokens["refresh_token"]}
    )
    assert refreshed.status_code == 401
    login = await client.post(
        "/api/auth/token", data={"username": user.email, "password": user.password}
    )
    assert login.status_code == 401 and "disabled" in login.json()["detail"]
    assert login.json()["code"] == "account_disabled"
    wrong = await client.post(
        "/api/auth/token", data={"username": user.email, "password": "not the password"}
    )
    assert "disabled" not in wrong.json()["detail"]  # told only to the password's holder

    shown = await users_cli(api_settings, tmp_path, "show", user.email)
    assert "state:        disabled" in shown.output

    enabled = await users_cli(api_settings, tmp_path, "enable", user.email)
    assert enabled.exit_code == 0, enabled.output
    again = await client.post(
        "/api/auth/token", data={"username": user.email, "password": user.password}
    )
    assert again.status_code == 200
    assert (
        await client.get("/api/users/me", headers=bearer(again.json()["access_token"]))
    ).status_code == 200


async def test_list_show_and_delete(client: Client, api_settings: Settings, tmp_path: Path) -> None:
    ada = await sign_up(client, "ada@example.com")
    await sign_up(client, "grace@example.com", "another secret")

    listed = await users_cli(api_settings, tmp_path, "list")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[1].startswith("ada@example.com") and lines[2].startswith("grace@example.com")
    paged = await users_cli(api_settings, tmp_path, "list", "--after", "ada@example.com")
    assert [line.split()[0] for line in paged.output.splitlines()[1:]] == ["grace@example.com"]

    shown = await users_cli(api_settings, tmp_path, "show", "ADA@example.com")
    assert shown.exit_code == 0 and f"id:           {ada.id}" in shown.output

    declined = await users_cli(api_settings, tmp_path, "delete", ada.email, stdin="n\n")
    assert declined.exit_code == 1 and "Aborted" in declined.output
    assert await sign_in(client, ada.email, ada.password) == 200

    deleted = await users_cli(api_settings, tmp_path, "delete", ada.email, "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert await sign_in(client, ada.email, ada.password) == 401
    missing = await users_cli(api_settings, tmp_path, "show", ada.email)
    assert missing.exit_code == 1 and "No account with that email" in missing.output
