"""The shared counter store prunes what is too old to matter, on both adapters."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from reflective_domain.throttling import LoginAttempts
from tests.integration.conftest import UowFactory

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


async def test_prune_deletes_old_unlocked_counters_a_batch_at_a_time(
    uow_factory: UowFactory,
) -> None:
    old = [LoginAttempts(bytes([n]) * 32, 3, T0 - timedelta(days=100)) for n in range(5)]
    locked = LoginAttempts(b"L" * 32, 9, T0 - timedelta(days=100), T0 + timedelta(minutes=5))
    fresh = LoginAttempts(b"F" * 32, 1, T0 - timedelta(days=1))
    async with uow_factory() as uow:
        for row in [*old, locked, fresh]:
            await uow.login_attempts.save(row)
        await uow.commit()
    cutoff = T0 - timedelta(days=90)
    async with uow_factory() as uow:
        assert await uow.login_attempts.prune(cutoff, 3) == 3
        assert await uow.login_attempts.prune(cutoff, 3) == 2
        assert await uow.login_attempts.prune(cutoff, 3) == 0
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.login_attempts.get(locked.key) is not None
        assert await uow.login_attempts.get(fresh.key) is not None
        assert all([await uow.login_attempts.get(r.key) is None for r in old])
