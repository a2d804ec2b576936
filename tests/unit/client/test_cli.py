"""The `client` command group, end to end on the in-memory server: two profiles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from reflective_client import http
from reflective_client.cli import client
from tests.unit.client.conftest import FlakyTransport

ENV = {
    "REFLECTIVE_PASSWORD": "correct horse battery",
    "REFLECTIVE_KEY_PASSPHRASE": "a passphrase for moving keys",
}


class Cli:
    def __init__(self, transport: FlakyTransport, tmp: Path) -> None:
        self.transport, self.tmp = transport, tmp
        self.runner = CliRunner()

    def __call__(
        self, profile: str, *args: str, input: str | None = None, ok: bool = True
    ) -> Result:
        result = self.runner.invoke(
            client,
            [
                "--server",
                "http://testserver",
                "--profile",
                str(self.tmp / profile),
                "--no-keyring",
                *args,
            ],
            input=input,
            env=ENV,
            obj={"transport": self.transport, "console": Console(width=200)},
            catch_exceptions=False,
        )
        if ok:
            assert result.exit_code == 0, result.output
        return result


@pytest.fixture
def cli(transport: FlakyTransport, tmp_path: Path) -> Cli:
    return Cli(transport, tmp_path)


def test_two_profiles_write_sync_conflict_resolve_and_read_stats(cli: Cli, tmp_path: Path) -> None:
    assert "Registered" in cli("laptop", "register", "--email", "cli@example.com").output
    assert "full_sync" in cli("laptop", "tier", "full_sync").output
    wrote = cli("laptop", "write", input="Rain on the window, tea in hand. A calm day.\n").output
    entry_id = wrote.split("entry ")[1].split(" ")[0]
    assert "Pushed 1" in cli("laptop", "sync").output

    key_file = tmp_path / "keys.reflective"
    cli("laptop", "keys", "export", str(key_file))
    assert (key_file.stat().st_mode & 0o777) == 0o600
    assert "imported" in cli("phone", "keys", "import", str(key_file)).output
    cli("phone", "login", "--email", "cli@example.com")
    cli("phone", "sync")
    assert "Rain on the window" in cli("phone", "entries").output

    # Both edit the entry; the phone's edit conflicts and is merged from a file.
    cli("laptop", "write", "--id", entry_id[:8], input="Rain, tea, and a long nap.\n")
    cli("phone", "write", "--id", entry_id[:8], input="Rain, tea, and a good book.\n")
    cli("laptop", "sync")
    assert "Conflicts are waiting" in cli("phone", "sync").output
    listed = cli("phone", "conflicts").output
    assert "a good book" in listed and "a long nap" in listed
    conflict_id = listed.split("conflict ")[1].split(" ")[0]
    merged = tmp_path / "merged.txt"
    merged.write_text("Rain, tea, a good book and a long nap.")
    cli("phone", "resolve", conflict_id, "merged", str(merged))
    # The phone wrote the merged version: its sync adds it to the packed sums, and the
    # laptop's withdraws the version it had measured.
    cli("phone", "sync")
    cli("laptop", "sync")
    assert "a good book and a long nap" in cli("laptop", "entries", "--full").output
    assert "No open conflicts" in cli("laptop", "conflicts").output

    stats = cli("laptop", "stats", "--weeks", "2").output
    assert "word_count" in stats and "Words per week" in stats
    # One entry, the merged text's 9 words: the edits left no trace in the sums.
    assert "│       1 │  9.00 │" in stats, stats

    export = tmp_path / "export.json"
    cli("laptop", "export", str(export))
    document: dict[str, Any] = json.loads(export.read_text())
    assert document["entries"][0]["text"] == "Rain, tea, a good book and a long nap."
    # The server's copy is ciphertext. (Phrases with a space or a comma: "Rain" alone turns up
    # in megabytes of base64 by chance.)
    server_copy = json.dumps(document["server"])
    assert "Rain on the window" not in server_copy and "Rain, tea" not in server_copy

    cli("phone", "delete", entry_id[:8])
    cli("phone", "sync")
    cli("laptop", "sync")
    assert "0 entries" in cli("laptop", "entries").output

    assert "Account deleted" in cli("laptop", "delete-account", "--yes").output
    assert not (tmp_path / "laptop" / "keys.json").exists()


def test_wrong_passphrase_and_missing_keys_are_one_line_errors(cli: Cli, tmp_path: Path) -> None:
    cli("laptop", "register", "--email", "keys@example.com")
    cli("laptop", "tier", "analytics_sync")
    key_file = tmp_path / "keys.reflective"
    cli("laptop", "keys", "export", str(key_file))
    result = cli.runner.invoke(
        client,
        ["--profile", str(tmp_path / "phone"), "--no-keyring", "keys", "import", str(key_file)],
        env={**ENV, "REFLECTIVE_KEY_PASSPHRASE": "not the passphrase"},
    )
    assert result.exit_code == 1 and "wrong passphrase" in result.output
    assert "Traceback" not in result.output
    denied = cli("phone", "login", "--email", "keys@example.com", ok=False)
    assert denied.exit_code == 1 and "keys import" in denied.output


def test_status_and_empty_entries(cli: Cli) -> None:
    cli("solo", "register", "--email", "solo@example.com")
    status = cli("solo", "status").output
    assert "solo@example.com" in status and "0600" in status
    assert "entries stay on this device" in cli("solo", "sync").output


def test_sessions_are_listed_and_one_is_ended(cli: Cli) -> None:
    cli("laptop", "register", "--email", "sessions@example.com")
    cli("phone", "login", "--email", "sessions@example.com")
    listed = cli("laptop", "sessions").output
    assert "2 sessions" in listed and listed.count("this one") == 1
    mine = cli("phone", "sessions").output.splitlines()
    phone_id = next(line for line in mine if "this one" in line).split()[1]
    assert "Ended session" in cli("laptop", "sessions", "--end", phone_id).output
    assert "1 sessions" in cli("laptop", "sessions").output
    unknown = cli("laptop", "sessions", "--end", "zzzz", ok=False)
    assert unknown.exit_code == 1 and "no session" in unknown.output


def test_history_and_restore_round_trip(cli: Cli, tmp_path: Path) -> None:
    """Two devices edit an entry; the laptop lists its kept versions decrypted and restores
    the first one; the phone receives it as an ordinary edit."""
    cli("laptop", "register", "--email", "history@example.com")
    cli("laptop", "tier", "full_sync")
    wrote = cli("laptop", "write", input="First draft: the lake at dawn.\n").output
    entry_id = wrote.split("entry ")[1].split(" ")[0]
    cli("laptop", "sync")
    key_file = tmp_path / "keys.reflective"
    cli("laptop", "keys", "export", str(key_file))
    cli("phone", "keys", "import", str(key_file))
    cli("phone", "login", "--email", "history@example.com")
    cli("phone", "sync")
    cli("phone", "write", "--id", entry_id[:8], input="Overwritten by accident.\n")
    cli("phone", "sync")
    cli("laptop", "sync")
    assert "Overwritten by accident" in cli("laptop", "entries", "--full").output

    listed = cli("laptop", "history", entry_id[:8], "--full").output
    assert "1 kept versions" in listed and "First draft: the lake at dawn." in listed
    restored = cli("laptop", "restore", entry_id[:8], "1").output
    assert "Restored revision 1" in restored and "Pushed 1" in restored
    cli("phone", "sync")
    assert "First draft: the lake at dawn." in cli("phone", "entries", "--full").output
    # The overwritten text was replaced in turn, so it is kept too: nothing was lost.
    again = cli("phone", "history", entry_id[:8], "--full").output
    assert "Overwritten by accident." in again and "First draft" in again
    missing = cli("laptop", "restore", entry_id[:8], "9", ok=False)
    assert missing.exit_code == 1 and "no revision 9" in missing.output


def test_sessions_are_read_whole_across_pages(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    # The server pages sessions; the CLI still lists (and finds an id among) all of them.
    monkeypatch.setattr(http, "WHOLE_LIST_PAGE", 2)
    cli("laptop", "register", "--email", "paged@example.com")
    for _ in range(4):
        cli("phone", "login", "--email", "paged@example.com")
    assert "5 sessions" in cli("laptop", "sessions").output
