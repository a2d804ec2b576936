"""``reflective dev-reset``: an empty database with the demo accounts, for development."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import click
from dependency_injector import providers

from reflective_adapters.postgres.embedded import EmbeddedDatabaseError
from reflective_app.container import Container
from reflective_app.logs import configure_logging
from reflective_app.settings import Settings, SettingsError
from reflective_domain.use_cases.accounts import Registration

DEMO_USERS = (
    ("test@example.com", "testpass123", "Test User"),
    ("love@food.com", "foodlover123", "Food Lover"),
    ("cell@apoptosis.com", "researcher123", "Cell Researcher"),
    ("hike@man.com", "hiker123", "Hiker"),
)


async def _settle(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


async def reset(settings: Settings) -> None:
    """Empty the database (migrating it first) and register the demo users."""
    container = Container()
    container.settings.override(providers.Object(settings))
    await _settle(container.init_resources())
    try:
        await (await _settle(container.database())).empty()
        register = await _settle(container.register())
        for email, password, name in DEMO_USERS:
            await register(Registration(email=email, password=password, display_name=name))
    finally:
        await _settle(container.shutdown_resources())


@click.command("dev-reset")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def dev_reset(yes: bool) -> None:
    """Delete every account and all data, then create the demo users (development only)."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    if settings.production:
        raise click.ClickException("dev-reset refuses to run with REFLECTIVE_ENV=production")
    configure_logging("WARNING")  # keep the command's output to what it says below
    if not yes:
        click.confirm(
            "This deletes EVERY account and all their data from the database. Continue?",
            abort=True,
        )
    try:
        asyncio.run(reset(settings))
    except EmbeddedDatabaseError as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot reach the database server: {exc}") from exc
    click.echo("Database emptied. Demo users (email / password):")
    for email, password, _ in DEMO_USERS:
        click.echo(f"  {email} / {password}")
