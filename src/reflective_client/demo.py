"""``reflective demo``: two simulated devices against a server, side by side.

A laptop and a phone share one account. The demo writes, syncs, edits concurrently, merges
a conflict, deletes, and reads encrypted statistics, and after each step shows what each
device reads and what the server stores (ciphertext prefixes and sizes). At the end it
searches the server's log for every text the devices wrote.

By default it starts its own server (``uvicorn reflective_app.main:app`` in a child process,
on a free port, with a throwaway embedded PostgreSQL); ``--server URL`` uses a running one.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import shutil
import tempfile
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from reflective_client import render
from reflective_client.crypto.envelope import KdfCost
from reflective_client.device import Device
from reflective_client.http import AsyncReflectiveClient
from reflective_client.keystore import MemoryKeyStore
from reflective_client.server import ServerProcess
from reflective_client.store import LocalStore
from reflective_protocol.sync import ChangeView

PASSWORD = "demo password, not a real one"
PASSPHRASE = "demo key passphrase"

ENTRIES = [
    "Walked to the lake before work. The water was completely still; I felt calm.",
    "Difficult meeting. I was frustrated and tired, but we found a plan in the end.",
    "Cooked dinner with friends. Lots of laughter, a wonderful evening.",
]
LAPTOP_EDIT = " Later: rain on the way home."
PHONE_EDIT = " I want to go back on Saturday."


class Demo:
    def __init__(self, console: Console, workdir: Path, url: str) -> None:
        self.console = console
        self.workdir = workdir
        self.url = url
        self.laptop = self._device("laptop")
        self.phone = self._device("phone")
        self.ids: list[str] = []
        self.written: list[str] = []

    def _device(self, name: str) -> Device:
        api = AsyncReflectiveClient(self.url)
        # The demo keeps keys in memory: it must not touch the user's real keychain.
        store = LocalStore(self.workdir / name / "local.sqlite3", device_prefix=name)
        return Device(api, store, MemoryKeyStore())

    def step(self, title: str, note: str = "") -> None:
        self.console.rule(f"[bold]{title}")
        if note:
            self.console.print(note)

    async def server_view(self) -> dict[str, ChangeView]:
        export = await self.laptop.api.export()
        return {str(e.id): e for e in export.entries}

    async def show(self, caption: str) -> None:
        stored = await self.server_view()
        laptop = {e.id: e.text for e in self.laptop.entries()}
        phone = {e.id: e.text for e in self.phone.entries()}
        table = Table(title=caption, expand=True, show_lines=True)
        table.add_column("entry", style="cyan", no_wrap=True)
        table.add_column("laptop reads", ratio=3)
        table.add_column("phone reads", ratio=3)
        table.add_column("server stores", ratio=2)
        for entry_id in self.ids:
            table.add_row(
                entry_id[:8],
                _cell(laptop.get(entry_id)),
                _cell(phone.get(entry_id)),
                _stored(stored.get(entry_id)),
            )
        self.console.print(table)

    async def run(self) -> None:
        email = f"demo-{secrets.token_hex(4)}@example.com"
        laptop, phone = self.laptop, self.phone

        self.step("1. The laptop registers and chooses full sync")
        await laptop.register(email, PASSWORD, "Demo writer")
        await laptop.set_tier("full_sync")
        he = laptop.keys.he
        assert he is not None
        self.console.print(
            f"Keys made on the laptop (id {laptop.keys.key_id}). The server received only the "
            f"HE public key ({len(he.public_key):,} bytes); the AES key and the HE secret key "
            "never leave the devices."
        )

        self.step("2. The laptop writes three entries and syncs")
        for text in ENTRIES:
            self.ids.append(laptop.write(text).id)
            self.written.append(text)
        await laptop.sync()
        await self.show("after the laptop's first sync")

        self.step(
            "3. The keys move to the phone",
            "`keys export` on the laptop, `keys import` on the phone: a passphrase-wrapped file "
            "(argon2id + AES-256-GCM). The server is not involved.",
        )
        key_file = self.workdir / "keys.reflective"
        laptop.export_keys(key_file, PASSPHRASE, KdfCost(time_cost=2, memory_cost=32 * 1024))
        phone.import_keys(key_file, PASSPHRASE)
        await phone.login(email, PASSWORD)
        await phone.sync()
        await self.show("the phone has synced")

        self.step("4. Both edit the first entry at the same time")
        first = self.ids[0]
        laptop.write(ENTRIES[0] + LAPTOP_EDIT, first)
        phone.write(ENTRIES[0] + PHONE_EDIT, first)
        self.written += [ENTRIES[0] + LAPTOP_EDIT, ENTRIES[0] + PHONE_EDIT]
        await laptop.sync()
        await phone.sync()
        for conflict in await phone.conflicts():
            self.console.print(render.conflict_table(conflict))
        await self.show("the server kept both versions (still encrypted) as a conflict")

        self.step("5. The phone merges the two versions")
        merged = ENTRIES[0] + LAPTOP_EDIT + PHONE_EDIT
        self.written.append(merged)
        [conflict] = await phone.conflicts()
        await phone.resolve(conflict.id, "merged", merged)
        await laptop.sync()
        await self.show("merged everywhere")

        self.step("6. The phone deletes the second entry")
        phone.delete(self.ids[1])
        await phone.sync()
        await laptop.sync()
        await self.show("the deletion reached the laptop as a tombstone")

        self.step(
            "7. Statistics computed blind",
            "The server adds CKKS ciphertexts (word counts and VADER sentiment, measured on the "
            "devices); only a device holding the secret key can read the result.",
        )
        years = await laptop.api.packed_years("word_count")
        self.console.print(
            f"server's answer: {len(years)} packed year(s) of word counts, "
            f"{sum(len(y.ciphertext) for y in years):,} bytes of ciphertext in all, "
            f"{sum(y.uploads for y in years)} upload(s) added slot-wise; base64 "
            f"{base64.b64encode(years[0].ciphertext)[:32].decode()}…"
        )
        for table in render.stats_tables(await phone.stats(weeks=3)):
            self.console.print(table)
        self.console.print(
            "The edit, the merge and the deletion already show: each device uploaded the "
            "difference for the day it changed, and the server never saw which day."
        )

        self.step("8. What the server could read")
        await self.audit_log()

        await laptop.delete_account(PASSWORD)
        self.console.print("Demo account deleted.")

    async def audit_log(self) -> None:
        log = getattr(self, "server_log", None)
        if log is None:
            self.console.print("(server log not available: the server was started elsewhere)")
            return
        text = log()
        found = [t for t in self.written if t in text or t[:24] in text]
        lines = len(text.splitlines())
        verdict = "[green]none[/green]" if not found else f"[red]{len(found)}[/red]"
        self.console.print(
            f"server log: {lines} lines; entry texts found in it: {verdict}. "
            "It holds request lines (method, route, status, duration), never bodies."
        )

    async def close(self) -> None:
        for device in (self.laptop, self.phone):
            await device.api.aclose()
            device.store.close()


def _cell(text: str | None) -> str:
    return "[dim]—[/dim]" if text is None else text


def _stored(entry: ChangeView | None) -> str:
    if entry is None:
        return "[dim]nothing[/dim]"
    if entry.deleted or entry.encrypted_content is None or entry.content_iv is None:
        return f"[yellow]tombstone[/yellow], rev {entry.revision}"
    raw = entry.encrypted_content
    return (
        f"{base64.b64encode(raw).decode()[:16]}… ({len(raw)} bytes AES-GCM)\n"
        f"iv {base64.b64encode(entry.content_iv).decode()}, rev {entry.revision}"
    )


@click.command()
@click.option("--server", default=None, help="Use this running server instead of starting one.")
@click.option(
    "--database-url",
    default=None,
    help="PostgreSQL for the server the demo starts (default: a throwaway embedded one).",
)
@click.option("--keep", is_flag=True, help="Keep the work directories (profiles, server log).")
def demo(server: str | None, database_url: str | None, keep: bool) -> None:
    """Two simulated devices against a server: what each reads, what the server stores."""
    console = Console()
    workdir = Path(tempfile.mkdtemp(prefix="reflective-demo-"))
    process = None
    try:
        url = server
        if url is None:
            # A directory of its own beside the private workdir, which keeps the devices'
            # profiles: run as root, the embedded PostgreSQL's user must read its way in.
            server_dir = Path(tempfile.mkdtemp(prefix="reflective-demo-server-"))
            process = ServerProcess(server_dir, database_url=database_url)
            with console.status("Starting a server (embedded PostgreSQL: a few seconds)…"):
                try:
                    url = process.start()
                except RuntimeError as exc:
                    keep = True  # the server's log says why
                    raise click.ClickException(f"the demo's server did not start: {exc}") from None
            console.print(f"Server at {url} (log: {process.log_path}).")
        scenario = Demo(console, workdir, url.rstrip("/"))
        if process is not None:
            scenario.server_log = process.log_text  # type: ignore[attr-defined]

        async def main() -> None:
            try:
                await scenario.run()
            finally:
                await scenario.close()

        asyncio.run(main())
    finally:
        if process is not None:
            process.stop()
        kept = [workdir] if process is None else [workdir, process.workdir]
        for directory in kept:
            if keep:
                console.print(f"Work directory kept: {directory}")
            else:
                shutil.rmtree(directory, ignore_errors=True)
