"""The database when no DATABASE_URL is given: an embedded PostgreSQL (``pgserver`` ships the
binaries in a wheel) under a local data directory, reached over a unix socket.

Run as root, pgserver creates a ``pgserver`` system user to run PostgreSQL (which refuses to run
as root), makes the data directory theirs and opens read/execute permission on every parent
directory so that user can reach it.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import platformdirs

DATABASE_URL = "DATABASE_URL"
DATA_DIR = "REFLECTIVE_DATA_DIR"
APP_NAME = "reflective"

CleanupMode = Literal["stop", "delete"] | None


class EmbeddedDatabaseError(RuntimeError):
    """The embedded PostgreSQL could not be started; the message says what to change."""


def data_dir_from_env(environ: Mapping[str, str]) -> Path:
    """``REFLECTIVE_DATA_DIR``, else the platform's per-user data directory for the app."""
    raw = environ.get(DATA_DIR, "").strip()
    return Path(raw).expanduser() if raw else Path(platformdirs.user_data_dir(APP_NAME))


def database_url_from_env(environ: Mapping[str, str] | None = None) -> str:
    """``DATABASE_URL`` when set, else the URL of the embedded server (started if need be)."""
    env = os.environ if environ is None else environ
    url = env.get(DATABASE_URL, "").strip()
    return url or start_embedded(data_dir_from_env(env))


def start_embedded(data_dir: Path, *, cleanup: CleanupMode = "stop") -> str:
    """Start (or join) the PostgreSQL server whose data lives in ``data_dir/pgdata``; return
    its URL. Idempotent within a process and across processes sharing the directory.

    ``cleanup``: what happens when the last process using the server exits: "stop" it (the
    default), "delete" its data too (throwaway servers), or None to leave it running.
    """
    data_dir = data_dir.expanduser().absolute()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EmbeddedDatabaseError(
            f"cannot create the data directory {data_dir} ({exc.strerror or exc}); "
            f"set {DATA_DIR} to a writable directory or {DATABASE_URL} to a PostgreSQL server"
        ) from exc
    pgdata = data_dir / "pgdata"
    pgserver = _pgserver()
    try:
        server = pgserver.get_server(pgdata, cleanup_mode=cleanup)
        return str(server.get_uri())
    except PermissionError as exc:
        raise EmbeddedDatabaseError(_permission_hint(pgdata, exc)) from exc
    except FileNotFoundError as exc:
        # As root pgserver calls `useradd`; minimal images may not have it.
        raise EmbeddedDatabaseError(
            f"cannot start the embedded PostgreSQL: {exc.strerror or exc} ({exc.filename}); "
            f"set {DATABASE_URL} to use an existing PostgreSQL server instead"
        ) from exc
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise EmbeddedDatabaseError(
            f"the embedded PostgreSQL failed to start ({exc}); its log is {pgdata / 'log'}"
            + (f". {_root_hint(pgdata)}" if _is_root() else "")
        ) from exc


def stop_embedded(data_dir: Path) -> None:
    """Release this process's handle on the server; it stops (or is deleted, per its cleanup
    mode) when no other process uses it."""
    pgserver = _pgserver()
    pgdata = (data_dir.expanduser() / "pgdata").resolve()
    server = pgserver.PostgresServer._instances.get(pgdata)
    if server is not None:
        server.cleanup()
        # Released now: its exit hook would only log, into streams that may be closed by then.
        atexit.unregister(server._cleanup)


def _pgserver() -> Any:
    # Imported on use: it looks up runtime directories at import, and most processes given a
    # DATABASE_URL never need it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: "XDG_RUNTIME_DIR is not set"
        import pgserver

    return pgserver


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _root_hint(pgdata: Path) -> str:
    return (
        "Run as root, the embedded PostgreSQL runs as the 'pgserver' system user, which needs "
        f"read and execute permission on every directory above {pgdata}"
    )


def _permission_hint(pgdata: Path, exc: PermissionError) -> str:
    where = f" on {exc.filename}" if exc.filename else ""
    hint = _root_hint(pgdata) if _is_root() else f"{pgdata} must be writable by this user"
    return (
        f"permission denied{where} while starting the embedded PostgreSQL. {hint}. "
        f"Set {DATA_DIR} to another directory, or {DATABASE_URL} to use an existing server."
    )
