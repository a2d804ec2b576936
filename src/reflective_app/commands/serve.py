"""``reflective serve``: run the API with uvicorn."""

from __future__ import annotations

import os

import click
import uvicorn

from reflective_adapters.postgres.embedded import (
    EmbeddedDatabaseError,
    start_embedded,
    stop_embedded,
)
from reflective_app.logs import configure_logging
from reflective_app.settings import Settings, SettingsError

APP = "reflective_app.main:app"


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1), help="Worker processes."
)
@click.option("--reload", is_flag=True, help="Restart on code changes (development).")
def serve(host: str, port: int, workers: int, reload: bool) -> None:
    """Run the API server. Migrations are applied on start; without DATABASE_URL an embedded
    PostgreSQL under REFLECTIVE_DATA_DIR is used."""
    try:
        # Read once here: a bad environment fails now, with its message, and a development
        # secret is created before any worker starts (so all workers share it).
        settings = Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    configure_logging(settings.log_level)  # this process's own lines (the workers' too)
    embedded = settings.database_url is None and (workers > 1 or reload)
    if embedded:
        # Several processes (workers, or the reloader's children) must share one embedded
        # server: start it here, once, and hand its URL down.
        try:
            os.environ["DATABASE_URL"] = start_embedded(settings.data_dir)
        except EmbeddedDatabaseError as exc:
            raise click.ClickException(str(exc)) from exc
    try:
        uvicorn.run(
            APP,
            host=host,
            port=port,
            workers=workers if not reload else None,
            reload=reload,
            access_log=False,  # the app logs requests itself, without query strings
            log_config=None,  # the app's JSON logging applies to uvicorn's loggers too
            proxy_headers=True,
        )
    finally:
        if embedded:
            os.environ.pop("DATABASE_URL", None)
            stop_embedded(settings.data_dir)
