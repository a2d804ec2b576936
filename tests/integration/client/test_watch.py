"""``Device.watch()`` over a real socket: a device syncs when another one writes, without
polling; sessions and devices through the SDK."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reflective_adapters.postgres import migrate
from reflective_client.cli import client
from reflective_client.device import Device
from reflective_client.errors import AuthError
from reflective_client.http import AsyncReflectiveClient
from reflective_client.keystore import MemoryKeyStore
from reflective_client.server import ServerProcess
from reflective_client.store import LocalStore

PASSWORD = "correct horse battery"
CLI_ENV = {
    "REFLECTIVE_PASSWORD": PASSWORD,
    "REFLECTIVE_KEY_PASSPHRASE": "a passphrase for moving keys",
}
WAIT = 60.0  # a hang guard, not a measurement


@pytest.fixture
async def database_url(pg_database_factory: Any) -> str:
    url: str = await pg_database_factory("watch")
    await asyncio.to_thread(migrate.upgrade, url)
    return url


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "server", database_url=database_url)
    process.start(timeout=60)
    yield process
    process.stop()


def device(server: ServerProcess, directory: Path, keys: MemoryKeyStore) -> Device:
    directory.mkdir(parents=True)
    store = LocalStore(directory / "local.sqlite3", device_prefix=directory.name)
    return Device(AsyncReflectiveClient(server.url, backoff=0.0), store, keys)


async def test_watch_syncs_when_another_device_writes(
    server: ServerProcess, tmp_path: Path
) -> None:
    keys = MemoryKeyStore()  # both devices hold the same keys (as after `keys import`)
    laptop = device(server, tmp_path / "laptop", keys)
    await laptop.register("watch@example.com", PASSWORD)
    await laptop.set_tier("full_sync")
    phone = device(server, tmp_path / "phone", keys)  # made after the keys were
    try:
        await phone.login("watch@example.com", PASSWORD)
        watching = phone.watch(reconnect_delay=0.1)
        first = await asyncio.wait_for(anext(watching), WAIT)  # synced once the stream is open
        assert first.entries is not None and first.entries.pulled == 0

        laptop.write("Morning swim, then rain.")
        await laptop.sync()
        report = await asyncio.wait_for(anext(watching), WAIT)
        assert report.entries is not None and report.entries.pulled == 1
        assert [e.text for e in phone.entries()] == ["Morning swim, then rain."]
        await watching.aclose()

        # Sessions: both sign-ins are listed; the laptop ends the phone's.
        sessions = await laptop.api.sessions()
        assert len(sessions) == 2 and sum(s.current for s in sessions) == 1
        phone_session = next(s for s in sessions if not s.current)
        await laptop.api.end_session(phone_session.id)
        with pytest.raises(AuthError):
            await phone.api.refresh()

        # Devices: both device ids are known to the server.
        devices = {d.device_id: d for d in await laptop.api.devices()}
        assert devices[laptop.device_id].entries_written == 1
        assert phone.device_id in devices
        await laptop.api.forget_device(phone.device_id)
        assert phone.device_id not in {d.device_id for d in await laptop.api.devices()}
    finally:
        for d in (laptop, phone):
            await d.api.aclose()
            d.store.close()


def _cli(
    server: ServerProcess, tmp: Path, profile: str, *args: str, stdin: str | None = None
) -> str:
    result = CliRunner().invoke(
        client,
        ["--server", server.url, "--profile", str(tmp / profile), "--no-keyring", *args],
        input=stdin,
        env=CLI_ENV,
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return result.output


def _read_until(process: subprocess.Popen[str], marker: str, seen: list[str]) -> None:
    """Lines of the process's output until one holds ``marker`` (a hang guard, not a
    measurement: the wait is bounded by the reader thread's join)."""
    assert process.stdout is not None
    found = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)
            if marker in line:
                found.set()
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(WAIT)
    assert found.is_set(), "".join(seen)


def test_sync_watch_on_the_command_line_until_ctrl_c(server: ServerProcess, tmp_path: Path) -> None:
    _cli(server, tmp_path, "laptop", "register", "--email", "cli-watch@example.com")
    _cli(server, tmp_path, "laptop", "tier", "full_sync")
    key_file = tmp_path / "keys.reflective"
    _cli(server, tmp_path, "laptop", "keys", "export", str(key_file))
    _cli(server, tmp_path, "phone", "keys", "import", str(key_file))
    _cli(server, tmp_path, "phone", "login", "--email", "cli-watch@example.com")

    script = Path(sys.executable).parent / "reflective"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "reflective_cli"]
    profile = ["--server", server.url, "--profile", str(tmp_path / "phone"), "--no-keyring"]
    watcher = subprocess.Popen(
        [*command, "client", *profile, "sync", "--watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **CLI_ENV},
    )
    seen: list[str] = []
    try:
        _read_until(watcher, "Pushed 0", seen)  # the first sync, once the stream is open
        _cli(server, tmp_path, "laptop", "write", stdin="Swim at dawn.\n")
        _cli(server, tmp_path, "laptop", "sync")
        _read_until(watcher, "pulled 1", seen)  # synced on the server's event, no polling
        watcher.send_signal(signal.SIGINT)
        rest, _ = watcher.communicate(timeout=WAIT)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    assert watcher.returncode == 0, "".join(seen) + rest
    assert "Stopped watching." in rest
    assert "Swim at dawn." in _cli(server, tmp_path, "phone", "entries")
