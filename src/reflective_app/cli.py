"""The server's commands (``serve``, ``db``, ``users``, ``dev-reset``) on the ``main`` group.

The installed ``reflective`` command is ``reflective_cli.main``: it takes these from here and the
client's from ``reflective_client``; this module never imports the client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from alembic.util.exc import CommandError

from reflective_adapters.postgres import diagnose, migrate
from reflective_adapters.postgres.embedded import EmbeddedDatabaseError, database_url_from_env
from reflective_app.commands import database_admin
from reflective_app.commands.dev_reset import dev_reset
from reflective_app.commands.serve import serve
from reflective_app.commands.users import users
from reflective_app.settings import Settings, SettingsError


@click.group()
@click.version_option(package_name="reflective-server")
def main() -> None:
    """Reflective Server: zero-knowledge journaling sync."""


@main.group()
def db() -> None:
    """Database schema (DATABASE_URL, or the embedded PostgreSQL when unset)."""


@contextmanager
def _database_errors() -> Iterator[None]:
    """Failures a user can fix, as one line each, not a traceback (and never the URL: it may
    hold a password)."""
    try:
        yield
    except (EmbeddedDatabaseError, CommandError) as exc:
        raise click.ClickException(str(exc)) from exc
    except ValueError as exc:
        raise click.ClickException(f"DATABASE_URL: {exc}") from exc
    except OSError as exc:
        raise click.ClickException(f"cannot reach the database server: {exc}") from exc
    except Exception as exc:
        failure = diagnose.driver_failure(exc)
        if failure is None:
            raise
        raise click.ClickException(f"database error: {failure}") from exc


def _with_database(action: Callable[[str], str]) -> None:
    with _database_errors():
        click.echo(action(database_url_from_env()))


def _describe(revision: str | None) -> str:
    if revision is None:
        return "empty (no migrations applied)"
    return (
        f"{revision} (head)"
        if revision == migrate.head()
        else f"{revision} (head is {migrate.head()})"
    )


@db.command()
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Migrate the schema up to REVISION (default: head)."""

    def run(url: str) -> str:
        migrate.upgrade(url, revision)
        return f"database at {_describe(migrate.current(url))}"

    _with_database(run)


@db.command()
@click.argument("revision", default="-1")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (required in production).")
def downgrade(revision: str, yes: bool) -> None:
    """Migrate the schema down to REVISION (default: one step; "base" drops every table).
    Data in dropped tables and columns is lost: asks first, and refuses in production
    (REFLECTIVE_ENV=production) without --yes."""
    if not yes:
        try:
            production = Settings.from_env().production
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from exc
        if production:
            raise click.ClickException(
                "refusing to downgrade a production database without --yes "
                "(take a backup first: reflective db backup FILE)"
            )
        click.confirm(
            f"Downgrading to {revision} drops the tables and columns of the later migrations "
            "and the data in them. Continue?",
            abort=True,
        )

    def run(url: str) -> str:
        migrate.downgrade(url, revision)
        return f"database at {_describe(migrate.current(url))}"

    _with_database(run)


@db.command()
def current() -> None:
    """Show the schema revision of the database."""
    _with_database(lambda url: _describe(migrate.current(url)))


for command in (
    database_admin.status,
    database_admin.stop,
    database_admin.backup,
    database_admin.restore,
):
    db.add_command(command)
main.add_command(serve)
main.add_command(users)
main.add_command(dev_reset)
