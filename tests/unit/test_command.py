"""The `reflective` command composes the installed parts (the install checks themselves, in clean
virtual environments, are `.ci/check-installs`)."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

import reflective_cli
from reflective_cli import ENTRIES, main, missing_requirements


def test_every_part_is_installed_in_development() -> None:
    assert missing_requirements("server") == []
    assert missing_requirements("client") == []


def test_an_unknown_extra_requires_nothing() -> None:
    assert missing_requirements("no-such-part") == []


def test_lists_every_subcommand() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    for name in ENTRIES:
        assert name in result.output


@pytest.mark.parametrize(("name", "part"), [("serve", "server"), ("client", "client")])
def test_a_missing_part_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, name: str, part: str
) -> None:
    monkeypatch.setattr(
        reflective_cli,
        "missing_requirements",
        lambda p: ["somepackage"] if p == part else [],
    )
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 1
    assert f'pip install "reflective-server[{part}]"' in result.output
    assert "somepackage" in result.output


def test_demo_needs_both_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        reflective_cli, "missing_requirements", lambda p: ["litestar"] if p == "server" else []
    )
    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code == 1
    assert "server part" in result.output


def test_the_server_commands_do_not_load_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in [m for m in sys.modules if m.startswith("reflective_client")]:
        monkeypatch.delitem(sys.modules, module)
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0, result.output
    assert not any(m.startswith("reflective_client") for m in sys.modules)
