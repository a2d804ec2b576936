from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol

from reflective_domain.ports.repositories import (
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


class UnitOfWork(Protocol):
    """One atomic transaction. Leaving the block without ``commit()`` rolls everything back."""

    users: UserRepository
    tags: TagRepository
    entries: EntryRepository
    conflicts: ConflictRepository
    deliveries: DeliveryLog
    metrics: MetricRepository
    packed_metrics: PackedMetricRepository
    refresh_tokens: RefreshTokenRepository
    login_attempts: LoginAttemptRepository

    async def __aenter__(self) -> UnitOfWork: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
