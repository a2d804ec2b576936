"""The ASGI application.

``create_app()`` builds a Litestar app around a container; the database is found, migrated and
connected in the app's startup, never at import. ``uvicorn reflective_app.main:app`` works:
``app`` is built on first access (PEP 562), so importing this module builds nothing.
"""

from __future__ import annotations

import gc
import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from dependency_injector import providers
from litestar import Litestar, MediaType, Response, get
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.plugins.prometheus import PrometheusController

from reflective_app.admission import ADMISSION_STATE_KEY, Admission, Gate
from reflective_app.bodies import POLICY_STATE_KEY, BodyPolicy, JsonRequest, LargeUploads
from reflective_app.body_limits import apply_entry_body_limit, entry_body_limit
from reflective_app.container import Container
from reflective_app.controllers import (
    AuthController,
    EncryptionController,
    HealthController,
    LiveSyncController,
    RootController,
    SessionController,
    SyncController,
    TagController,
    UserController,
)
from reflective_app.dependencies import container_dependencies, resolve_one_at_a_time
from reflective_app.errors import EXCEPTION_HANDLERS
from reflective_app.logs import configure_logging
from reflective_app.openapi import (
    Base64Schema,
    docs_asset_routers,
    documented,
    openapi_config,
)
from reflective_app.request_log import RequestMiddleware
from reflective_app.settings import Settings
from reflective_app.version import server_version


class MetricsController(PrometheusController):
    """Prometheus text format: request counts, durations and errors by route template."""

    path = "/api/metrics"
    tags = ["operations"]

    @get(
        operation_id="prometheus_metrics",
        media_type=MediaType.TEXT,
        **documented("Prometheus metrics", guarded=False),
    )
    async def get(self) -> Response[bytes]:
        """Request counts, durations and errors by route template, in Prometheus' text
        format."""
        answer: Response[bytes] = await PrometheusController.get.fn(self)
        return answer


async def _settle(result: Any) -> None:
    # init/shutdown_resources return an awaitable only when some resource is async.
    if inspect.isawaitable(result):
        await result


def _cors(settings: Settings) -> CORSConfig | None:
    if not settings.cors_origins:
        return None
    return CORSConfig(
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        # Last-Event-ID: an EventSource resuming /api/sync/events.
        allow_headers=["Authorization", "Content-Type", "X-Request-ID", "Last-Event-ID"],
        expose_headers=["X-Request-ID"],
        allow_credentials=False,  # bearer tokens, no cookies
    )


def _body_policy(settings: Settings) -> BodyPolicy:
    """One per app, so per worker process: large-upload admission and body timeouts."""
    return BodyPolicy(
        large_threshold=settings.max_body_bytes,
        large_limit=settings.max_metrics_body_bytes,
        large_uploads=LargeUploads(settings.large_uploads_per_worker),
        idle_timeout=float(settings.body_idle_timeout_seconds),
    )


def create_app(container: Container | None = None, settings: Settings | None = None) -> Litestar:
    """A Litestar app over ``container`` (a new one by default) and ``settings`` (default:
    the environment)."""
    container = container or Container()
    if settings is not None:
        container.settings.override(providers.Object(settings))
    settings = container.settings()
    configure_logging(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await _settle(container.init_resources())
        try:
            yield
        finally:
            await _settle(container.shutdown_resources())

    gate = Gate(settings.admission_limit, settings.admission_wait_seconds, settings.admission_queue)
    app = Litestar(
        route_handlers=[
            RootController,
            HealthController,
            MetricsController,
            AuthController,
            UserController,
            TagController,
            EncryptionController,
            SyncController,
            *docs_asset_routers(),
            LiveSyncController,
            SessionController,
        ],
        dependencies=container_dependencies(container),
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        middleware=[
            RequestMiddleware(),  # request id, log line, metrics and security headers in one
            DefineMiddleware(Admission, gate=gate),
        ],
        cors_config=_cors(settings),
        openapi_config=openapi_config(server_version()),
        plugins=[Base64Schema()],
        request_max_body_size=settings.max_body_bytes,
        request_class=JsonRequest,
        lifespan=[lifespan],
        logging_config=None,
        state=State(
            {
                "container": container,
                POLICY_STATE_KEY: _body_policy(settings),
                ADMISSION_STATE_KEY: gate,
            }
        ),
        debug=False,
    )
    apply_entry_body_limit(app, entry_body_limit(container.entry_limits()))
    resolve_one_at_a_time(app)
    return app


_app: Litestar | None = None

# A young-generation collection every 10,000 new container objects instead of 700: a page
# of 100 entries allocates thousands, and each collection is work on the request path.
GC_THRESHOLDS = (10_000, 10, 10)


def _settle_heap(app: Litestar) -> None:
    """Once started, move everything alive (modules, the container, the engine, the routes)
    out of the collector's sight (``gc.freeze``): full collections then scan only what the
    requests made, not the whole server. Only for the served app (``app`` below), not for
    apps that tests build and drop."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def __getattr__(name: str) -> Any:
    """``reflective_app.main.app``: built once, on first access."""
    global _app
    if name == "app":
        if _app is None:
            _app = create_app()
            _app.on_startup.append(_settle_heap)
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["create_app"]
