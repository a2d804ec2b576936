"""One composition root: every use case the domain defines is built by the server's container,
and handed to the HTTP handlers under its provider's name."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import pkgutil
import threading
from pathlib import Path
from typing import Any

from dependency_injector import providers

import reflective_domain.live
import reflective_domain.use_cases
from reflective_adapters.security.passwords import Argon2PasswordHasher
from reflective_app.container import USE_CASES, Container
from reflective_app.dependencies import container_dependencies
from reflective_app.settings import Settings
from reflective_domain.use_cases.accounts import Registration
from tests.composition import PASSWORD, memory_container


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


class _GatedArgon2:
    """argon2 whose hashing of one password waits for a gate (in its worker thread, holding
    whatever hashing slot it was given)."""

    def __init__(self, real: Any, held: str, gate: threading.Event) -> None:
        self._real, self._held, self._gate = real, held, gate
        self.waiting = threading.Event()

    def hash(self, password: str) -> str:
        if password == self._held:
            self.waiting.set()
            self._gate.wait(30)
        result: str = self._real.hash(password)
        return result

    def verify(self, password_hash: str, password: str) -> bool:
        result: bool = self._real.verify(password_hash, password)
        return result


async def test_registrations_in_flight_never_hold_the_sign_in_hashing_slots() -> None:
    """With every registration hashing slot busy (and one sign-in slot in all), a sign-in
    still hashes: the container gives registration a semaphore of its own."""
    settings = Settings(
        data_dir=Path("unused"), password_hash_concurrency=1, registration_hash_concurrency=1
    )
    container = memory_container(settings=settings)
    hasher = Argon2PasswordHasher(max_concurrency=1, time_cost=1, memory_cost=1024, parallelism=1)
    gate = threading.Event()
    gated = _GatedArgon2(hasher._argon2, "a held registration password", gate)
    hasher._argon2 = gated  # type: ignore[assignment]
    container.hasher.override(providers.Object(hasher))
    await container.register()(Registration("ada@example.com", PASSWORD))
    held = asyncio.create_task(
        container.register()(Registration("eve@example.com", "a held registration password"))
    )
    try:
        assert await asyncio.to_thread(gated.waiting.wait, 10)  # the registration slot is taken
        signed_in = await asyncio.wait_for(container.sign_in()("ada@example.com", PASSWORD), 10)
        assert signed_in is not None
    finally:
        gate.set()
        await held
