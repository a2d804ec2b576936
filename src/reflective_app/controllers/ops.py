"""Operations: service identity, liveness, readiness. None need auth or reveal user data."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from litestar import Controller, Response, get
from litestar.openapi import ResponseSpec

from reflective_app.injected import AggregatorDep, DatabaseDep, ParametersDep
from reflective_app.openapi import documented
from reflective_app.version import SERVICE_NAME, server_version
from reflective_domain.he_params import CkksParameters
from reflective_domain.ports import HeAggregator, StorageError
from reflective_protocol.ops import Health, Readiness, ServiceInfo

log = structlog.get_logger("reflective.health")
CHECK_TIMEOUT_SECONDS = 3.0


class RootController(Controller):
    path = "/"
    tags = ["operations"]

    @get(operation_id="service_info", **documented("Name and version of the service"))
    async def info(self) -> ServiceInfo:
        """The service's name and version."""
        return ServiceInfo(service=SERVICE_NAME, version=server_version())


class HealthController(Controller):
    path = "/api/health"
    tags = ["operations"]

    @get(operation_id="health", **documented("Liveness", guarded=False))
    async def live(self) -> Health:
        """Liveness: the process answers."""
        return Health(status="ok")

    @get(
        "/ready",
        operation_id="readiness",
        **documented("Readiness", guarded=False),
        responses={503: ResponseSpec(Readiness, description="Not ready: a check failed")},
    )
    async def ready(
        self, database: DatabaseDep, ckks_parameters: ParametersDep, he_aggregator: AggregatorDep
    ) -> Response[Readiness]:
        """Readiness: the database answers and the HE library works. 503 otherwise."""
        checks = {
            "database": await _check("database", database.ping()),
            "he": await _check("he", _he_check(he_aggregator, ckks_parameters)),
        }
        ready = all(result == "ok" for result in checks.values())
        return Response(
            Readiness(status="ready" if ready else "not_ready", checks=checks),
            status_code=200 if ready else 503,
        )


async def _he_check(aggregator: HeAggregator, parameters: CkksParameters) -> None:
    if not await asyncio.to_thread(aggregator.serialized_context, parameters):
        raise RuntimeError("empty HE context")


async def _check(name: str, probe: Any) -> str:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure means "not ready"; the type is enough to log
        # A storage error's cause is the driver's, which says more (refused, timed out, ...).
        cause = exc.__cause__ if isinstance(exc, StorageError) and exc.__cause__ else exc
        log.warning("readiness_check_failed", check=name, error_type=type(cause).__name__)
        return "failed"
    return "ok"
