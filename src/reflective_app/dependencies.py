"""The bridge from the container to Litestar's dependency injection.

dependency-injector's ``@inject`` does not work on Litestar handlers, so each provider
becomes a Litestar dependency of the same name: a handler that declares ``sign_in: SignIn``
gets ``container.sign_in()``. Overrides on the container apply, since providers are called
per request.
"""

from __future__ import annotations

import inspect
import uuid
from typing import Any

from dependency_injector import providers
from litestar import Litestar, Request
from litestar.di import NamedDependency, Provide
from litestar.routes import HTTPRoute

from reflective_app.container import USE_CASES, Container
from reflective_domain.errors import AuthenticationFailed
from reflective_domain.ports import TokenService
from reflective_domain.sessions import AccessClaims
from reflective_domain.use_cases.accounts import Authorize

NOT_AUTHENTICATED = "Not authenticated"


def _bridge(provider: providers.Provider[Any]) -> Provide:
    async def provide() -> Any:
        instance = provider()
        # Providers that depend on the async database resources return awaitables.
        if inspect.isawaitable(instance):
            instance = await instance
        return instance

    return Provide(provide)


def _bearer(request: Request[Any, Any, Any]) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationFailed(NOT_AUTHENTICATED)
    return token


async def current_user_id(
    request: Request[Any, Any, Any], authorize: NamedDependency[Authorize]
) -> uuid.UUID:
    """The user named by ``Authorization: Bearer <access token>``; 401 otherwise."""
    return await authorize(_bearer(request))


def make_caller_dependency(tokens: TokenService) -> Provide:
    """``caller``: the verified claims of the bearer token (signature, expiry, issuer,
    audience; 401 otherwise), with no database read. The handler passes ``issued_at`` to its
    use case, which checks it against the account on the user-row read it makes anyway, so
    the whole request is one transaction."""

    def current_caller(request: Request[Any, Any, Any]) -> AccessClaims:
        return tokens.read_access(_bearer(request))

    return Provide(current_caller, sync_to_thread=False)


def container_dependencies(container: Container) -> dict[str, Provide]:
    deps = {name: _bridge(getattr(container, name)) for name in USE_CASES}
    for name in ("settings", "clock", "ckks_parameters", "he_aggregator", "database", "tokens"):
        deps[name] = _bridge(getattr(container, name))
    deps["user_id"] = Provide(current_user_id)
    deps["caller"] = make_caller_dependency(container.tokens())
    deps["event_hub"] = _bridge(container.event_hub)
    return deps


def resolve_one_at_a_time(app: Litestar) -> None:
    """Resolve each handler's dependencies one after another, not concurrently.

    Litestar resolves a handler's independent dependencies concurrently, in an anyio task
    group (a task per dependency, and a group per request) whenever there are two or more,
    as on every sync route (the bearer token's claims and the use case). Ours are all quick
    and never wait for one another, so running them in turn gives the same values and
    errors for a fraction of the cost. Each batch stays in its place, so a dependency still
    comes after those it depends on.
    """
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for _handler, model in route.route_handler_map.values():
            model.dependency_batches = [
                {dependency}
                for batch in model.dependency_batches
                for dependency in sorted(batch, key=lambda d: d.key)
            ]
