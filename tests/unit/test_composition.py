"""One composition root: every use case the domain defines is built by the server's container,
and handed to the HTTP handlers under its provider's name."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from dependency_injector import providers

import reflective_domain.live
import reflective_domain.use_cases
from reflective_app.container import USE_CASES, Container
from reflective_app.dependencies import container_dependencies
from tests.composition import memory_container


def use_case_classes() -> set[type]:
    """The classes of ``reflective_domain.use_cases`` (and the live-sync ones) whose instances
    carry out a user's intent when called; the modules' values and helpers are left out."""
    modules = [
        importlib.import_module(f"reflective_domain.use_cases.{info.name}")
        for info in pkgutil.iter_modules(reflective_domain.use_cases.__path__)
    ] + [reflective_domain.live]
    return {
        cls
        for module in modules
        for name, cls in inspect.getmembers(module, inspect.isclass)
        if cls.__module__ == module.__name__
        and not name.startswith("_")
        and "__call__" in vars(cls)
        and inspect.iscoroutinefunction(vars(cls)["__call__"])
    }


def test_every_use_case_class_is_built_by_the_container() -> None:
    built = {Container.providers[name].cls for name in USE_CASES}  # type: ignore[attr-defined]
    missing = {cls.__qualname__ for cls in use_case_classes() - built}
    assert not missing, f"use cases no provider builds: {sorted(missing)}"


def test_use_cases_are_the_containers_per_call_domain_providers() -> None:
    for name, provider in Container.providers.items():
        per_call_domain = isinstance(provider, providers.Factory) and (
            provider.cls.__module__.startswith("reflective_domain.")
        )
        assert (name in USE_CASES) == per_call_domain, name


async def test_handlers_receive_every_use_case_built_by_the_container() -> None:
    container = memory_container()
    # No memory device directory exists; the device use cases only need one to be built.
    container.device_directory.override(providers.Object(object()))
    dependencies = container_dependencies(container)
    for name in USE_CASES:
        built = await dependencies[name].dependency()
        assert isinstance(built, Container.providers[name].cls), name  # type: ignore[attr-defined]
