"""``reflective serve``: check the configuration, the port and the database, then run the API
with uvicorn.

Every check runs once, in this process, before any worker starts; a failure is one line on
stderr and exit status 2 (``ConfigurationError``).
"""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import socket
import threading
from types import FrameType
from typing import Any

import click
import structlog
import uvicorn
from uvicorn.supervisors import ChangeReload, Multiprocess

from reflective_adapters.postgres.embedded import (
    EmbeddedDatabaseError,
    start_embedded,
    stop_embedded,
)
from reflective_app import preflight
from reflective_app.logs import configure_logging
from reflective_app.settings import Settings, SettingsError, signing_secret

APP = "reflective_app.main:app"

log = structlog.get_logger("reflective.serve")


class ConfigurationError(click.ClickException):
    """A startup failure the operator fixes in the configuration: one line, exit status 2."""

    exit_code = 2


def uvicorn_config(
    settings: Settings, app: Any = APP, *, host: str = "127.0.0.1", port: int = 8000, **extra: Any
) -> uvicorn.Config:
    """uvicorn's configuration from the settings: forwarded headers trusted only from
    FORWARDED_ALLOW_IPS, and the guards against slow and oversized clients."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,  # the app logs requests itself, without query strings
        log_config=None,  # the app's logging applies to uvicorn's loggers too
        # None trusted by default: X-Forwarded-For from anyone else would let any client
        # choose the address the sign-in throttle counts.
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or "",
        timeout_keep_alive=settings.keep_alive_timeout,
        limit_concurrency=settings.limit_concurrency,
        h11_max_incomplete_event_size=settings.max_header_bytes,
        http="reflective_app.http_protocol:GuardedHttpToolsProtocol",
        **extra,
    )
    # Read by the protocol; an attribute, so it travels to worker processes with the config.
    config.header_read_timeout = settings.header_read_timeout  # type: ignore[attr-defined]
    return config


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1), help="Worker processes."
)
@click.option("--reload", is_flag=True, help="Restart on code changes (development).")
def serve(host: str, port: int, workers: int, reload: bool) -> None:
    """Run the API server. Migrations are applied on start (MIGRATE_ON_START); without
    DATABASE_URL an embedded PostgreSQL under REFLECTIVE_DATA_DIR is used."""
    try:
        # Read once here: a bad environment fails now, with its message.
        settings = Settings.from_env()
    except SettingsError as exc:
        raise ConfigurationError(str(exc)) from exc
    configure_logging(settings.log_level, settings.log_format)
    try:
        sock = preflight.bind(host, port)
    except preflight.StartupError as exc:
        raise ConfigurationError(str(exc)) from None
    embedded = settings.database_url is None
    previous = _exit_on_sigterm()
    try:
        # The server's files: a development secret is made before any worker starts (so all
        # workers share it), beside the embedded database.
        try:
            signing_secret(settings)
        except SettingsError as exc:
            raise ConfigurationError(str(exc)) from None
        except OSError as exc:
            raise ConfigurationError(f"cannot write the development secret: {exc}") from None
        if settings.database_url is None:
            # Every process (workers, the reloader's children) shares one embedded server:
            # start it here, once, and hand its URL down.
            try:
                url = start_embedded(settings.data_dir)
            except EmbeddedDatabaseError as exc:
                raise ConfigurationError(str(exc)) from None
            os.environ["DATABASE_URL"] = url
        else:
            url = settings.database_url
        try:
            preflight.check_database(url)
            if settings.listen_database_url is not None:
                # Live sync's listener: checked here too, or a bad URL would surface only as
                # a worker's failed startup, or as streams that never hear of a change.
                preflight.check_database(settings.listen_database_url, "LISTEN_DATABASE_URL")
            done = preflight.prepare_schema(url, settings.migrate_on_start)
        except preflight.StartupError as exc:
            raise ConfigurationError(str(exc)) from None
        except Exception as exc:  # a migration that failed: its first line, not a traceback
            raise ConfigurationError(
                f"migrating the database failed: {type(exc).__name__}: "
                f"{(str(exc).strip().splitlines() or [''])[0][:300]}"
            ) from None
        _announce(settings, url, host, port, workers, done)
        config = uvicorn_config(settings, host=host, port=port, workers=workers, reload=reload)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn already shut down
            _run(config, sock)
    finally:
        if previous is not None:
            # From here on a SIGTERM must not cut the cleanup short.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sock.close()
        if embedded:
            os.environ.pop("DATABASE_URL", None)
            stop_embedded(settings.data_dir)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm() -> Any:
    """Make SIGTERM (``kill``, ``systemctl stop``) a clean exit through serve's ``finally``,
    which stops the embedded server; return the handler it replaces (None off the main
    thread, where handlers cannot be set).

    uvicorn swaps in its own handler while it serves, then restores this one and re-raises
    the signal after its graceful shutdown: with the default handler the process would die
    there, leaving the embedded PostgreSQL running.
    """
    if threading.current_thread() is not threading.main_thread():
        return None

    def leave(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the cleanup
        raise SystemExit(0)

    return signal.signal(signal.SIGTERM, leave)


def _announce(settings: Settings, url: str, host: str, port: int, workers: int, done: str) -> None:
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    database = preflight.describe(
        url, settings.data_dir / "pgdata" if settings.database_url is None else None
    )
    log.info(
        f"Reflective Server listening on {base} (docs at {base}/docs), database {database}, "
        f"{workers} worker{'s' if workers > 1 else ''}",
        url=base,
        docs_url=f"{base}/docs",
        database=database,
        workers=workers,
        schema=done,
    )


def _run(config: uvicorn.Config, sock: socket.socket) -> None:
    server = uvicorn.Server(config)
    if config.should_reload:
        ChangeReload(config, target=server.run, sockets=[sock]).run()
    elif config.workers > 1:
        # uvicorn < 0.36 took the target too; later versions build their own servers.
        if "target" in inspect.signature(Multiprocess).parameters:
            Multiprocess(config, target=server.run, sockets=[sock]).run()  # type: ignore[call-arg]
        else:
            Multiprocess(config, sockets=[sock]).run()
    else:
        server.run(sockets=[sock])
