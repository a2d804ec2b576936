"""Service identity, liveness and readiness."""

from __future__ import annotations

from typing import Annotated

import msgspec

from reflective_protocol.common import doc


class ServiceInfo(msgspec.Struct):
    service: Annotated[str, doc("The service's name")]
    version: Annotated[str, doc("The server's version")]
    docs: Annotated[str, doc("Where the interactive API documentation is")] = "/docs"


class Health(msgspec.Struct):
    status: Annotated[str, doc('"ok" while the process serves requests')]


class Readiness(msgspec.Struct):
    status: Annotated[str, doc('"ready", or "not_ready" when a check fails')]
    checks: Annotated[dict[str, str], doc("Each dependency checked and its state")]
