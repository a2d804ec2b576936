"""Checks ``reflective serve`` runs before any worker starts, each failure one line that says
what is wrong and how to fix it (never the database password).

- ``bind``: the listening socket, bound once here and handed to uvicorn (so a port in use is
  found before the database is started or migrated).
- ``check_database``: connect and run ``SELECT 1``; a bad URL, a missing database, a wrong
  host, port, user or password each get their own message.
- ``prepare_schema``: migrate (``MIGRATE_ON_START``, the default) or check that the schema is
  the one this version needs.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

from reflective_adapters.postgres import diagnose, migrate
from reflective_adapters.postgres.lifecycle import SchemaMismatch, check_schema_at_head


class StartupError(Exception):
    """The server cannot start as configured; ``str`` is the one line to show."""


def bind(host: str, port: int) -> socket.socket:
    """The server's listening socket, bound and listening now, handed to uvicorn."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"port {port} on {host} is already in use; stop what listens there "
                f"or choose another port with --port"
            ) from None
        if exc.errno == errno.EACCES:
            raise StartupError(
                f"no permission to listen on {host}:{port}; use a port above 1023 "
                "(put nginx in front for 80/443)"
            ) from None
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    # Listening now: a client arriving while the workers start waits in the backlog rather
    # than being refused (uvicorn listens again with its own backlog, which is harmless).
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def describe(url: str, embedded_dir: Path | None = None) -> str:
    """Where the database is, for the startup line: host, port and name, never a password."""
    if embedded_dir is not None:
        return f"embedded at {embedded_dir}"
    return f"postgresql {diagnose.location(url)}"


def check_database(raw_url: str, variable: str = "DATABASE_URL") -> None:
    """Connect and run one query; raise StartupError with the cause and the fix."""
    try:
        diagnose.check_connection(raw_url, variable)
    except diagnose.DatabaseUnreachable as exc:
        raise StartupError(str(exc)) from None


def prepare_schema(url: str, migrate_on_start: bool) -> str:
    """Migrate to head, or (MIGRATE_ON_START=false) refuse unless already there. Returns what
    was done, for the log."""
    if migrate_on_start:
        migrate.upgrade(url)
        return "migrated"
    schema_matches(url)
    return "schema checked"


def schema_matches(url: str) -> None:
    try:
        check_schema_at_head(url)
    except SchemaMismatch as exc:
        raise StartupError(str(exc)) from None
