from __future__ import annotations

import pytest

from reflective_adapters.memory import MemoryStore, MemoryUnitOfWork
from tests.fakes import FakeClock, FakePasswordHasher, FakeTokenService, PlaintextHe, SequentialIds
from tests.services import Services


@pytest.fixture
def services() -> Services:
    store = MemoryStore()
    clock = FakeClock()
    return Services(
        uow=lambda: MemoryUnitOfWork(store),
        clock=clock,
        ids=SequentialIds(),
        hasher=FakePasswordHasher(),
        tokens=FakeTokenService(clock),
        he=PlaintextHe(),
    )
