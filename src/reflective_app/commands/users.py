"""``reflective users``: list, show, create, disable, enable and delete accounts.

The commands use the database the server uses (DATABASE_URL, or the embedded one) and work
whether or not public registration is open (REGISTRATION_OPEN).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
from dependency_injector import providers

from reflective_adapters.postgres.embedded import EmbeddedDatabaseError
from reflective_app.container import Container
from reflective_app.logs import configure_logging
from reflective_app.settings import Settings, SettingsError
from reflective_domain.accounts import User
from reflective_domain.errors import AlreadyExists, NotFound, ValidationFailed
from reflective_domain.use_cases.accounts import Registration

T = TypeVar("T")


async def _settle(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def run_with_container(
    action: Callable[[Container], Awaitable[T]], settings: Settings | None = None
) -> T:
    """Run ``action`` against a started container (database found, migrated, connected)."""
    settings = settings or _settings()
    configure_logging("WARNING", settings.log_format)  # the command's own output only

    async def run() -> T:
        container = Container()
        container.settings.override(providers.Object(settings))
        await _settle(container.init_resources())
        try:
            return await action(container)
        finally:
            await _settle(container.shutdown_resources())

    try:
        return asyncio.run(run())
    except NotFound as exc:
        raise click.ClickException(exc.message) from exc
    except (AlreadyExists, ValidationFailed) as exc:
        raise click.ClickException(exc.message) from exc
    except EmbeddedDatabaseError as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot reach the database server: {exc}") from exc


async def _use_case(container: Container, name: str) -> Any:
    return await _settle(getattr(container, name)())


def _line(user: User) -> str:
    state = "disabled" if user.disabled else "active"
    created = user.created_at.strftime("%Y-%m-%d")
    return f"{user.email:<40} {user.privacy_tier.value:<15} {state:<9} {created} {user.id}"


@click.group()
def users() -> None:
    """Accounts on this server (administrators)."""


@users.command("list")
@click.option("--after", default=None, help="Start after this email (paging).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
def list_users(after: str | None, limit: int) -> None:
    """List accounts by email: email, tier, state, creation date, id."""

    async def action(container: Container) -> list[User]:
        return list(await (await _use_case(container, "list_users"))(after, limit))

    found = run_with_container(action)
    if not found:
        click.echo("no accounts")
        return
    click.echo(f"{'email':<40} {'tier':<15} {'state':<9} {'created':<10} id")
    for user in found:
        click.echo(_line(user))


@users.command()
@click.argument("email")
def show(email: str) -> None:
    """Show one account (never its data: that is encrypted)."""

    async def action(container: Container) -> User:
        return await (await _use_case(container, "find_user"))(email)  # type: ignore[no-any-return]

    user = run_with_container(action)
    click.echo(f"email:        {user.email}")
    click.echo(f"id:           {user.id}")
    click.echo(f"display name: {user.display_name or '-'}")
    click.echo(f"privacy tier: {user.privacy_tier.value}")
    click.echo(f"state:        {'disabled' if user.disabled else 'active'}")
    click.echo(f"created:      {user.created_at.isoformat()}")
    click.echo(f"updated:      {user.updated_at.isoformat()}")


@users.command()
@click.argument("email")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    envvar="REFLECTIVE_NEW_PASSWORD",
    help="The new account's password (prompted; or REFLECTIVE_NEW_PASSWORD).",
)
@click.option("--name", default=None, help="Display name.")
def create(email: str, password: str, name: str | None) -> None:
    """Create an account, also when registration is closed (REGISTRATION_OPEN=false)."""

    async def action(container: Container) -> User:
        register = await _use_case(container, "register")
        return await register(  # type: ignore[no-any-return]
            Registration(email=email, password=password, display_name=name)
        )

    user = run_with_container(action)
    click.echo(f"created {user.email} ({user.id})")


@users.command()
@click.argument("email")
def disable(email: str) -> None:
    """Disable an account: sign-in refused, every session and token ended. Data is kept."""

    async def action(container: Container) -> User:
        return await (await _use_case(container, "set_user_disabled"))(email, True)  # type: ignore[no-any-return]

    user = run_with_container(action)
    click.echo(f"disabled {user.email}; its sessions are ended")


@users.command()
@click.argument("email")
def enable(email: str) -> None:
    """Enable a disabled account again."""

    async def action(container: Container) -> User:
        return await (await _use_case(container, "set_user_disabled"))(email, False)  # type: ignore[no-any-return]

    user = run_with_container(action)
    click.echo(f"enabled {user.email}")


@users.command()
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(email: str, yes: bool) -> None:
    """Delete an account and ALL its data (entries, metrics, keys, tags, sessions)."""
    if not yes:
        click.confirm(f"This deletes {email} and all of its data, for good. Continue?", abort=True)

    async def action(container: Container) -> User:
        return await (await _use_case(container, "delete_user"))(email)  # type: ignore[no-any-return]

    user = run_with_container(action)
    click.echo(f"deleted {user.email} and all of its data")
