"""Rate limits on costly routes, counted in the same shared store as the sign-in throttle, so
every worker and every instance sees one count."""

from __future__ import annotations

from collections.abc import Mapping

from reflective_domain.errors import RateLimited
from reflective_domain.ports import Clock
from reflective_domain.ports.unit_of_work import UnitOfWorkFactory
from reflective_domain.throttling import RateLimit, throttle_key

TOO_MANY_REQUESTS = "Too many requests; try again later"


class CheckRateLimit:
    """Count one request of ``name`` by ``subject`` (a user id or a client address); raise
    RateLimited (429 with Retry-After) beyond the limit. Names without a limit pass."""

    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, limits: Mapping[str, RateLimit]
    ) -> None:
        self._uow, self._clock, self._limits = uow, clock, limits

    async def __call__(self, name: str, subject: str) -> None:
        limit = self._limits.get(name)
        if limit is None:
            return
        now = self._clock.now()
        key = throttle_key(f"rate:{name}", subject)
        async with self._uow() as uow:
            counter = await uow.login_attempts.get_for_update(key, now)
            wait = limit.hit(counter, now)
            await uow.login_attempts.save(counter)
            await uow.commit()
        if wait is not None:
            raise RateLimited(TOO_MANY_REQUESTS, wait)
