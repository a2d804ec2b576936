from __future__ import annotations

from types import TracebackType

from reflective_adapters.memory.repositories import (
    MemoryConflicts,
    MemoryDeliveries,
    MemoryEntries,
    MemoryLoginAttempts,
    MemoryMetrics,
    MemoryPackedMetrics,
    MemoryRefreshTokens,
    MemoryTags,
    MemoryUsers,
)
from reflective_adapters.memory.store import MemoryStore, Tables
from reflective_domain.ports import (
    ConflictRepository,
    DeliveryLog,
    EntryRepository,
    LoginAttemptRepository,
    MetricRepository,
    PackedMetricRepository,
    RefreshTokenRepository,
    TagRepository,
    UserRepository,
)


class MemoryUnitOfWork:
    users: UserRepository
    tags: TagRepository
    entries: EntryRepository
    conflicts: ConflictRepository
    deliveries: DeliveryLog
    metrics: MetricRepository
    packed_metrics: PackedMetricRepository
    refresh_tokens: RefreshTokenRepository
    login_attempts: LoginAttemptRepository

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._work: Tables | None = None

    async def __aenter__(self) -> MemoryUnitOfWork:
        await self._store.lock.acquire()
        self._begin()
        return self

    def _begin(self) -> None:
        work = self._store.tables.copy()
        self._work = work
        self.users = MemoryUsers(work)
        self.tags = MemoryTags(work)
        self.entries = MemoryEntries(work)
        self.conflicts = MemoryConflicts(work)
        self.deliveries = MemoryDeliveries(work)
        self.metrics = MemoryMetrics(work)
        self.packed_metrics = MemoryPackedMetrics(work)
        self.refresh_tokens = MemoryRefreshTokens(work)
        self.login_attempts = MemoryLoginAttempts(work)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._work = None
        self._store.lock.release()

    async def commit(self) -> None:
        if self._work is None:
            raise RuntimeError("commit outside the unit of work")
        # Commit a copy so objects the caller still holds cannot change the store afterwards.
        self._store.tables = self._work.copy()

    async def rollback(self) -> None:
        self._begin()
