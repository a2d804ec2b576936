"""``reflective client ...``: the command-line client.

Every command works on one profile (``--profile``): its local store, its keys and its
session. Passwords come from ``REFLECTIVE_PASSWORD`` or a prompt, key passphrases from
``REFLECTIVE_KEY_PASSPHRASE`` or a prompt; neither is ever stored or printed.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, TypeVar

import click
import httpx
from rich.console import Console

from reflective_client import keyfile, render
from reflective_client.device import TIERS, Device, DeviceSyncReport
from reflective_client.errors import KeysMissing, ReflectiveError
from reflective_client.http import DEFAULT_SERVER, AsyncReflectiveClient
from reflective_client.keystore import FileKeyStore, usable_keyring
from reflective_client.profile import Profile, Session, profile_dir

T = TypeVar("T")
PASSWORD_ENV = "REFLECTIVE_PASSWORD"
PASSPHRASE_ENV = "REFLECTIVE_KEY_PASSPHRASE"


@dataclass
class Context:
    server: str | None
    profile: Path
    use_keyring: bool
    transport: httpx.AsyncBaseTransport | None = None
    """Tests inject an in-process transport here (``obj={"transport": ...}``)."""
    console: Console | None = None

    def out(self) -> Console:
        if self.console is None:
            self.console = Console(highlight=False, soft_wrap=False)
        return self.console

    def open_profile(self) -> Profile:
        backend = usable_keyring() if self.use_keyring else None
        return Profile(self.profile, FileKeyStore(self.profile, backend))

    def server_url(self, session: Session) -> str:
        return (self.server or session.server or DEFAULT_SERVER).rstrip("/")


def _secret(env: str, prompt: str, confirm: bool = False) -> str:
    value = os.environ.get(env)
    if value:
        return value
    return str(click.prompt(prompt, hide_input=True, confirmation_prompt=confirm))


def _run(ctx: Context, action: Callable[[Device, Profile], Awaitable[T]]) -> T:
    """Open the profile and a Device on it, run ``action``, map errors to one line."""
    profile = ctx.open_profile()
    session = profile.session()

    async def main() -> T:
        api = AsyncReflectiveClient(
            ctx.server_url(session),
            tokens=session.tokens,
            transport=ctx.transport,
            on_tokens=profile.save_tokens,
        )
        async with api:
            return await action(Device(api, profile.store, profile.keystore), profile)

    try:
        return asyncio.run(main())
    except ReflectiveError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        profile.close()


pass_context = click.make_pass_decorator(Context)


@click.group()
@click.option(
    "--server",
    envvar="REFLECTIVE_SERVER",
    default=None,
    help=f"Server URL (default: the profile's, else {DEFAULT_SERVER}).",
)
@click.option(
    "--profile",
    "profile_name",
    envvar="REFLECTIVE_PROFILE",
    default=None,
    help="Profile name (under the user config directory) or directory. Default: 'default'.",
)
@click.option(
    "--keyring/--no-keyring",
    default=True,
    help="Protect keys with the OS keychain when one is usable (default) or not.",
)
@click.pass_context
def client(ctx: click.Context, server: str | None, profile_name: str | None, keyring: bool) -> None:
    """Reflective's end-to-end encrypted client: entries are encrypted on this device and the
    server stores ciphertexts only."""
    injected = ctx.obj if isinstance(ctx.obj, dict) else {}
    ctx.obj = Context(
        server=server,
        profile=profile_dir(profile_name),
        use_keyring=keyring,
        transport=injected.get("transport"),
        console=injected.get("console"),
    )


# --- account ----------------------------------------------------------------------------


@client.command()
@click.option("--email", required=True)
@click.option("--display-name", default=None)
@pass_context
def register(ctx: Context, email: str, display_name: str | None) -> None:
    """Create an account, sign in, and generate this profile's keys."""
    password = _secret(PASSWORD_ENV, "Password", confirm=True)

    async def action(device: Device, profile: Profile) -> None:
        await device.register(email, password, display_name)
        _remember(ctx, profile, email)
        ctx.out().print(f"Registered {email}; keys {device.keys.key_id} made on this device.")
        ctx.out().print("Carry them to your other devices with `keys export FILE`.")

    _run(ctx, action)


@client.command()
@click.option("--email", required=True)
@pass_context
def login(ctx: Context, email: str) -> None:
    """Sign in on this profile."""
    password = _secret(PASSWORD_ENV, "Password")

    async def action(device: Device, profile: Profile) -> None:
        _remember(ctx, profile, email)
        user = await device.login(email, password)
        ctx.out().print(f"Signed in as {user.email} (tier {user.privacy_tier.value}).")

    _run(ctx, action)


def _remember(ctx: Context, profile: Profile, email: str) -> None:
    session = profile.session()
    session.server = ctx.server_url(session)
    session.email = email
    profile.save_session(session)


@client.command()
@pass_context
def logout(ctx: Context) -> None:
    """End this profile's session on the server."""

    async def action(device: Device, profile: Profile) -> None:
        await device.logout()
        ctx.out().print("Signed out.")

    _run(ctx, action)


@client.command()
@click.argument("tier", type=click.Choice(TIERS))
@pass_context
def tier(ctx: Context, tier: str) -> None:
    """Change the privacy tier (an upgrade uploads this device's encrypted metrics; a
    downgrade makes the server delete what the lower tier does not keep)."""

    async def action(device: Device, profile: Profile) -> None:
        with render.progress_bars(ctx.out()) as progress:
            privacy = await device.set_tier(tier, progress)
        ctx.out().print(f"Privacy tier: {privacy.current_tier.value}.")

    _run(ctx, action)


@client.command("delete-account")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_context
def delete_account(ctx: Context, yes: bool) -> None:
    """Delete the account and everything the server holds, then this profile's local data."""
    if not yes:
        click.confirm("Delete the account, its cloud data and this profile's entries?", abort=True)
    password = _secret(PASSWORD_ENV, "Password")

    async def action(device: Device, profile: Profile) -> None:
        await device.delete_account(password)
        profile.wipe()
        ctx.out().print("Account deleted; this profile's entries, session and keys removed.")

    _run(ctx, action)


@client.command()
@pass_context
def status(ctx: Context) -> None:
    """Profile, server, keys and what is waiting to be synced."""
    profile = ctx.open_profile()
    try:
        session = profile.session()
        keys = profile.keystore.load()
        out = ctx.out()
        out.print(f"profile:   {profile.directory}")
        out.print(f"server:    {ctx.server_url(session)}")
        out.print(
            f"account:   {session.email or '-'} ({'signed in' if session.tokens else 'signed out'})"
        )
        out.print(f"device:    {profile.store.device_id}")
        out.print(f"tier:      {profile.store.get_meta('tier') or 'unknown (sync to learn)'}")
        out.print(f"keys:      {keys.key_id if keys else 'none'} in {profile.keystore.describe()}")
        out.print(f"local:     {profile.store.counts()}")
    except ReflectiveError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        profile.close()


# --- keys -------------------------------------------------------------------------------


@client.group()
def keys() -> None:
    """Move this account's keys between devices (passphrase-protected files)."""


@keys.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_context
def keys_export(ctx: Context, file: Path) -> None:
    """Write the keys to FILE, encrypted with a passphrase (argon2id + AES-256-GCM)."""
    profile = ctx.open_profile()
    try:
        held = profile.keystore.load()
        if held is None:
            raise KeysMissing("this profile has no keys to export")
        passphrase = _secret(PASSPHRASE_ENV, "Key passphrase", confirm=True)
        keyfile.export_keys(held, file, passphrase)
        ctx.out().print(f"Keys {held.key_id} written to {file} (mode 0600).")
    except (ReflectiveError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        profile.close()


@keys.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Overwrite different keys already held.")
@pass_context
def keys_import(ctx: Context, file: Path, replace: bool) -> None:
    """Read the keys from FILE (made by `keys export` on another device)."""
    profile = ctx.open_profile()
    try:
        passphrase = _secret(PASSPHRASE_ENV, "Key passphrase")
        imported = keyfile.read_keys(file, passphrase)
        keyfile.check_replaceable(profile.keystore.load(), imported, replace)
        profile.keystore.save(imported)
        ctx.out().print(f"Keys {imported.key_id} imported into {profile.keystore.describe()}.")
    except ReflectiveError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        profile.close()


# --- entries ----------------------------------------------------------------------------


@client.command()
@click.option("--id", "entry_id", default=None, help="Edit this entry instead of adding one.")
@click.argument("file", type=click.File("r", encoding="utf-8"), default="-")
@pass_context
def write(ctx: Context, entry_id: str | None, file: TextIO) -> None:
    """Write an entry from FILE (default: standard input). Stored encrypted; `sync` sends it."""
    text = file.read()
    if not text.strip():
        raise click.ClickException("the entry is empty")

    async def action(device: Device, profile: Profile) -> None:
        full_id = _full_id(device, entry_id) if entry_id else None
        entry = device.write(text, full_id)
        ctx.out().print(
            f"{'Saved' if entry_id else 'Wrote'} entry {entry.id} ({entry.word_count} words)."
        )

    _run(ctx, action)


def _full_id(device: Device, prefix: str) -> str:
    """Entry ids may be given by a unique prefix, as `entries` shows them."""
    matches = [e.id for e in device.store.entries() if e.id.startswith(prefix)]
    if len(matches) != 1:
        raise click.ClickException(
            f"no entry starts with {prefix!r}" if not matches else f"{prefix!r} is ambiguous"
        )
    return matches[0]


@client.command()
@click.argument("entry_id")
@pass_context
def delete(ctx: Context, entry_id: str) -> None:
    """Delete an entry (other devices see the deletion after they sync)."""

    async def action(device: Device, profile: Profile) -> None:
        device.delete(_full_id(device, entry_id))
        ctx.out().print("Deleted; `sync` tells the other devices.")

    _run(ctx, action)


@client.command()
@click.argument("entry_id")
@click.option("--full", is_flag=True, help="Whole texts, not one-line previews.")
@pass_context
def history(ctx: Context, entry_id: str, full: bool) -> None:
    """The versions the server keeps of an entry (replaced by later edits, or deleted),
    decrypted, with when they were replaced and the device that wrote them."""

    async def action(device: Device, profile: Profile) -> None:
        full_id = _full_id(device, entry_id)
        ctx.out().print(render.history_table(full_id, await device.history(full_id), full))
        ctx.out().print("Bring one back with `restore ENTRY REVISION`.")

    _run(ctx, action)


@client.command()
@click.argument("entry_id")
@click.argument("revision", type=click.IntRange(min=1))
@pass_context
def restore(ctx: Context, entry_id: str, revision: int) -> None:
    """Make a kept version of an entry its current one again: an ordinary edit (encrypted
    again) that other devices receive at their next sync; the version it replaces is kept."""

    async def action(device: Device, profile: Profile) -> None:
        full_id = _full_id(device, entry_id)
        await device.sync()  # decide on the newest revision this account has
        await device.restore(full_id, revision)
        report = await device.sync()
        ctx.out().print(f"Restored revision {revision} of {full_id[:8]}.")
        _print_report(ctx, report)

    _run(ctx, action)


@client.command()
@click.option("--full", is_flag=True, help="Whole texts, not one-line previews.")
@pass_context
def entries(ctx: Context, full: bool) -> None:
    """This device's entries, decrypted, newest first."""

    async def action(device: Device, profile: Profile) -> None:
        ctx.out().print(render.entries_table(device.entries(), full))

    _run(ctx, action)


@client.command()
@click.option(
    "--watch", is_flag=True, help="Stay connected and sync on every change (Ctrl-C to stop)."
)
@pass_context
def sync(ctx: Context, watch: bool) -> None:
    """Push local changes, pull other devices' changes, upload this device's metrics."""

    async def action(device: Device, profile: Profile) -> None:
        if not watch:
            with render.progress_bars(ctx.out()) as progress:
                report = await device.sync(progress)
            _print_report(ctx, report)
            return
        ctx.out().print("Watching for changes (Ctrl-C to stop).")
        async for report in device.watch():
            _print_report(ctx, report)

    try:
        _run(ctx, action)
    except KeyboardInterrupt:
        ctx.out().print("Stopped watching.")


def _print_report(ctx: Context, report: DeviceSyncReport) -> None:
    out = ctx.out()
    if report.entries is None:
        out.print(f"Tier {report.tier}: entries stay on this device.")
    else:
        r = report.entries
        out.print(
            f"Pushed {r.pushed}, deleted {r.deleted}, pulled {r.pulled}, "
            f"removed {r.tombstones}, resolutions sent {r.resolutions}."
        )
        for entry_id, reason in r.rejected.items():
            out.print(f"[red]Entry {entry_id} refused by the server: {reason}[/red]")
        if r.open_conflicts or r.conflicts:
            out.print("[yellow]Conflicts are waiting: see `conflicts`.[/yellow]")
    if report.metrics_uploaded:
        out.print(f"Uploaded {report.metrics_uploaded} encrypted metrics.")


@client.command()
@click.option("--end", "end_id", default=None, help="End this session (its id or a prefix).")
@pass_context
def sessions(ctx: Context, end_id: str | None) -> None:
    """Where this account is signed in; ``--end ID`` signs one out (its refresh token stops
    working at once; its access token at the latest when it expires)."""

    async def action(device: Device, profile: Profile) -> None:
        found = await device.api.sessions()
        out = ctx.out()
        if end_id is not None:
            matches = [s for s in found if str(s.id).startswith(end_id)]
            if len(matches) != 1:
                raise click.ClickException(
                    f"no session {end_id!r}" if not matches else f"{end_id!r} is ambiguous"
                )
            await device.api.end_session(matches[0].id)
            out.print(f"Ended session {matches[0].id}.")
            return
        out.print(render.sessions_table(found))

    _run(ctx, action)


@client.command()
@pass_context
def conflicts(ctx: Context) -> None:
    """Open conflicts, both versions decrypted."""

    async def action(device: Device, profile: Profile) -> None:
        views = await device.conflicts()
        if not views:
            ctx.out().print("No open conflicts.")
        for view in views:
            ctx.out().print(render.conflict_table(view))
        if views:
            ctx.out().print("Resolve with `resolve ID local|remote|merged [FILE]`.")

    _run(ctx, action)


@client.command()
@click.argument("conflict_id")
@click.argument("choice", type=click.Choice(["local", "remote", "merged"]))
@click.argument("file", type=click.File("r", encoding="utf-8"), required=False)
@pass_context
def resolve(ctx: Context, conflict_id: str, choice: str, file: TextIO | None) -> None:
    """Resolve a conflict: keep the conflicting upload (local), the current version
    (remote), or the merged text from FILE or standard input (merged)."""
    merged = None
    if choice == "merged":
        source: TextIO = file if file is not None else sys.stdin
        merged = source.read()
        if not merged.strip():
            raise click.ClickException("the merged text is empty")

    async def action(device: Device, profile: Profile) -> None:
        await device.resolve(conflict_id, choice, merged)
        ctx.out().print(f"Conflict {conflict_id} resolved ({choice}).")

    _run(ctx, action)


# --- statistics, export -------------------------------------------------------------------


@client.command()
@click.option("--weeks", default=6, show_default=True, type=click.IntRange(1, 52))
@click.option(
    "--rebuild",
    is_flag=True,
    help="First replace the server's metrics with every entry's current ones (full_sync).",
)
@pass_context
def stats(ctx: Context, weeks: int, rebuild: bool) -> None:
    """Word counts and mood: computed by the server on ciphertexts, decrypted here.

    Edits and deletions change the sums without a rebuild (packed: a delta for the day;
    single: the server replaces or retracts the entry's metrics); `--rebuild` repairs them
    from every entry's current metrics."""

    async def action(device: Device, profile: Profile) -> None:
        if rebuild:
            with render.progress_bars(ctx.out()) as progress:
                count = await device.rebuild_metrics(progress)
            ctx.out().print(f"Rebuilt: {count} encrypted metrics uploaded.")
        for table in render.stats_tables(await device.stats(weeks)):
            ctx.out().print(table)

    _run(ctx, action)


@client.command("metrics-format")
@click.argument("value", type=click.Choice(["packed", "single"]), required=False)
@pass_context
def metrics_format(ctx: Context, value: str | None) -> None:
    """Show or set how this device uploads metrics: `packed` (the default, a UTC year of a
    metric type per ciphertext) or `single` (a value per ciphertext, as the web client)."""

    async def action(device: Device, profile: Profile) -> None:
        if value is not None:
            device.set_metrics_format(value)
        ctx.out().print(f"Metrics format: {device.metrics_format}.")

    _run(ctx, action)


@client.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--local-only", is_flag=True, help="Leave out the server's (encrypted) copy.")
@pass_context
def export(ctx: Context, file: Path, local_only: bool) -> None:
    """Write every entry, decrypted, and the server's encrypted copy, to FILE (0600)."""

    async def action(device: Device, profile: Profile) -> None:
        document = await device.export_data(file, include_server=not local_only)
        ctx.out().print(f"Exported {len(document['entries'])} entries to {file}.")

    _run(ctx, action)


# --- tags -------------------------------------------------------------------------------


@client.group()
def tags() -> None:
    """Tags whose names the server cannot read (blind index + sealed name)."""


@tags.command("list")
@pass_context
def tags_list(ctx: Context) -> None:
    async def action(device: Device, profile: Profile) -> None:
        for tag in await device.tags():
            kind = "private" if tag.private else "[yellow]plain (server-readable)[/yellow]"
            ctx.out().print(f"{tag.color} {tag.name or '<name kept on another device>'} ({kind})")

    _run(ctx, action)


@tags.command("add")
@click.argument("name")
@click.option("--color", default=None, help="#RRGGBB")
@pass_context
def tags_add(ctx: Context, name: str, color: str | None) -> None:
    async def action(device: Device, profile: Profile) -> None:
        tag = await device.add_tag(name, color)
        ctx.out().print(f"Tag {tag.name!r} stored as a blind index.")

    _run(ctx, action)


def main() -> None:  # pragma: no cover - `python -m reflective_client.cli`
    client(prog_name=os.path.basename(sys.argv[0]))


if __name__ == "__main__":  # pragma: no cover
    main()
