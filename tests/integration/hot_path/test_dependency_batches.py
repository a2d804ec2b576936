"""Every route's dependencies are resolved one after another: no task group per request."""

from __future__ import annotations

from litestar.routes import HTTPRoute

from reflective_app.container import Container
from reflective_app.main import create_app


def test_every_route_resolves_its_dependencies_in_turn(api_container: Container) -> None:
    app = create_app(api_container)
    upload = None
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler, model in route.route_handler_map.values():
            assert all(len(batch) == 1 for batch in model.dependency_batches), route.path
            if route.path == "/api/sync/backup" and "POST" in handler.http_methods:
                upload = [dep.key for batch in model.dependency_batches for dep in batch]
    # The push route has two dependencies (the token's claims and the use case), which
    # Litestar alone would resolve concurrently in a task group.
    assert upload is not None and {"caller", "push_entry"} <= set(upload)
