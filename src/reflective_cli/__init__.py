"""The ``reflective`` command: composes the parts of the distribution that are installed.

The server (``reflective_app``) and the client (``reflective_client``) are extras of one
distribution and never import each other (see the import-linter layers in pyproject.toml):

- ``pip install "reflective-server[server]"``: ``serve``, ``db``, ``users``, ``dev-reset``;
- ``pip install "reflective-server[client]"``: ``client``;
- both (``pip install -e ".[dev]"`` installs both): also ``demo``, which drives the client
  against a server it starts in a child process.

A subcommand whose part is missing still shows up, and says what to install instead of failing
with an import error. Subcommands are imported only when used, so ``reflective client`` does not
load the server's modules, nor ``reflective serve`` the client's.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from dataclasses import dataclass

import click

DISTRIBUTION = "reflective-server"


@dataclass(frozen=True, slots=True)
class Entry:
    """A subcommand: where it lives, and which extras it needs."""

    target: str  # "module:attribute" of the click command
    parts: tuple[str, ...]
    summary: str


ENTRIES: dict[str, Entry] = {
    "serve": Entry(
        "reflective_app.commands.serve:serve", ("server",), "Run the server (uvicorn workers)."
    ),
    "db": Entry("reflective_app.cli:db", ("server",), "Database schema, status and backups."),
    "users": Entry("reflective_app.commands.users:users", ("server",), "Manage accounts."),
    "dev-reset": Entry(
        "reflective_app.commands.dev_reset:dev_reset",
        ("server",),
        "Delete the development data (never in production).",
    ),
    "client": Entry("reflective_client.cli:client", ("client",), "The Reflective client."),
    "demo": Entry(
        "reflective_client.demo:demo",
        ("client", "server"),
        "Two devices against a local server, end to end.",
    ),
}

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def missing_requirements(part: str) -> list[str]:
    """The distributions the extra ``part`` requires that are not installed (none when this
    distribution itself is not installed, e.g. run from a source tree)."""
    try:
        requirements = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        return []
    missing: list[str] = []
    for requirement in requirements:
        spec, _, marker = requirement.partition(";")
        if re.search(rf"""extra\s*==\s*["']{re.escape(part)}["']""", marker) is None:
            continue
        match = _NAME.match(spec.strip())
        if match is None:
            continue
        try:
            importlib.metadata.distribution(match.group(0))
        except importlib.metadata.PackageNotFoundError:
            missing.append(match.group(0))
    return missing


def _unavailable(name: str, entry: Entry, missing: dict[str, list[str]]) -> click.Command:
    extras = ",".join(sorted(missing))
    names = ", ".join(sorted({n for ns in missing.values() for n in ns}))
    message = (
        f"`reflective {name}` needs the {' and '.join(sorted(missing))} part "
        f'(missing: {names}): pip install "{DISTRIBUTION}[{extras}]"'
    )

    @click.command(
        name=name,
        help=f'{entry.summary} Not installed: pip install "{DISTRIBUTION}[{extras}]".',
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
    )
    def command() -> None:
        raise click.ClickException(message)

    return command


class Composed(click.Group):
    """A group whose subcommands are imported on first use, or stand-ins when not installed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(ENTRIES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = ENTRIES.get(cmd_name)
        if entry is None:
            return None
        missing = {part: m for part in entry.parts if (m := missing_requirements(part))}
        if missing:
            return _unavailable(cmd_name, entry, missing)
        module_name, _, attribute = entry.target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):  # pragma: no cover - a wiring mistake
            raise TypeError(f"{entry.target} is not a click command")
        return command


@click.group(cls=Composed)
@click.version_option(package_name=DISTRIBUTION)
def main() -> None:
    """Reflective Server: zero-knowledge journaling sync."""
