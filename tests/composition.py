"""The server's composition root (``reflective_app.container.Container``) for unit and property
tests: the same providers, wired the same way, with storage, clock, ids, password hashing,
tokens and HE arithmetic overridden by memory adapters and fakes. Tests take their use cases
from it (``container.push_entry()``), so a use case wired differently in the server is wired
differently here too.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from dependency_injector import providers

from reflective_adapters.memory import MemoryStore, MemoryUnitOfWork
from reflective_adapters.memory.directory import MemoryUserDirectory
from reflective_adapters.memory.live import MemoryStreamSlots, MemoryTicketStore
from reflective_app.container import Container
from reflective_app.settings import Settings
from reflective_domain.ports import UnitOfWorkFactory
from reflective_domain.tiers import PrivacyTier
from reflective_domain.use_cases.accounts import Registration
from tests.fakes import FakeClock, FakePasswordHasher, FakeTokenService, PlaintextHe, SequentialIds

PASSWORD = "correct horse battery"


def memory_container(
    uow_factory: UnitOfWorkFactory | None = None, settings: Settings | None = None
) -> Container:
    """A container whose use cases run on a fresh ``MemoryStore`` (or ``uow_factory``: e.g.
    PostgreSQL units of work for a race test) and on fakes. Nothing is started: the database
    resources are never asked for (the device directory, which has no memory adapter, is the
    one provider still wired to them). The settings are the defaults unless given."""
    store = MemoryStore()
    clock = FakeClock()
    he = PlaintextHe()
    container = Container()
    # The defaults, without reading the environment; the data directory is never used.
    container.settings.override(providers.Object(settings or Settings(data_dir=Path("unused"))))
    container.uow_factory.override(
        providers.Object(uow_factory or (lambda: MemoryUnitOfWork(store)))
    )
    container.user_directory.override(providers.Object(MemoryUserDirectory(store)))
    tickets = MemoryTicketStore()
    container.ticket_store.override(providers.Object(tickets))
    container.stream_slots.override(providers.Object(MemoryStreamSlots(tickets)))
    container.clock.override(providers.Object(clock))
    container.ids.override(providers.Object(SequentialIds()))
    container.hasher.override(providers.Object(FakePasswordHasher()))
    container.tokens.override(providers.Object(FakeTokenService(clock)))
    container.ciphertext_validator.override(providers.Object(he))
    container.he_aggregator.override(providers.Object(he))
    return container


async def new_user(
    container: Container,
    email: str = "ada@example.com",
    tier: PrivacyTier = PrivacyTier.LOCAL_ONLY,
) -> uuid.UUID:
    """Register ``email`` (password ``PASSWORD``) and, unless local-only, move it to ``tier``."""
    user = await container.register()(Registration(email, PASSWORD))
    if tier is not PrivacyTier.LOCAL_ONLY:
        await container.change_tier()(user.id, tier, container.clock().now(), b"PK-1")
    return user.id
