"""The app's route table, as the security suites enumerate it: every documented operation
(method + path template), whether it takes path parameters, a body, a token."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.routes import HTTPRoute

from reflective_app.container import Container
from reflective_app.main import create_app
from reflective_app.settings import Settings
from tests.integration.api.conftest import TEST_SECRET

# Methods the framework answers itself on every route.
_FRAMEWORK_METHODS = {"OPTIONS", "HEAD"}

# Operations that answer an endless stream (Server-Sent Events): a suite that reads whole
# answers would wait forever. Their own tests (tests/integration/api/test_live.py,
# tests/integration/live) check who receives what.
STREAMING = frozenset({"GET /api/sync/events"})


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # the template as documented: /api/tags/{tag_id}
    path_parameters: tuple[str, ...]
    takes_body: bool
    needs_token: bool

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    def url(self, **values: str) -> str:
        return self.path.format(**values)


def operations_of(app: Litestar) -> list[Operation]:
    """Every operation the app documents (the OpenAPI routes, not the docs pages)."""
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            for method in sorted(handler.http_methods - _FRAMEWORK_METHODS):
                found.append(
                    Operation(
                        method=method,
                        path=route.path_format,
                        path_parameters=tuple(route.path_parameters),
                        takes_body="data" in handler.parsed_fn_signature.parameters
                        or method in ("POST", "PUT", "PATCH"),
                        needs_token=bool(handler.resolve_security()),
                    )
                )
    return found


@cache
def production_app() -> Litestar:
    """An app built as in production. Nothing connects until startup, so building one at
    collection time is free of I/O."""
    settings = Settings(secret_key=TEST_SECRET, data_dir=Path(tempfile.gettempdir()))
    return create_app(Container(), settings)


def app_operations() -> tuple[Operation, ...]:
    return tuple(operations_of(production_app()))


def app_openapi_document() -> dict[str, Any]:
    """The OpenAPI document the app serves at /docs/openapi.json."""
    document: dict[str, Any] = production_app().openapi_schema.to_schema()
    return document
