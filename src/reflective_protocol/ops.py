"""Service identity, liveness and readiness."""

from __future__ import annotations

import msgspec


class ServiceInfo(msgspec.Struct):
    service: str
    version: str
    docs: str = "/docs"


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    status: str
    checks: dict[str, str]
