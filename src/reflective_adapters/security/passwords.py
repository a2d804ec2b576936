"""argon2id password hashing, kept off the event loop and bounded in concurrency."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# Hashed once per process (on first use) so that burn() verifies against a hash made with the
# same parameters as real ones and costs the same.
_DUMMY_PASSWORD = "reflective-dummy-password-for-equal-timing"


class Argon2PasswordHasher:
    """argon2id through argon2-cffi.

    Each hash costs tens of milliseconds and ``memory_cost`` KiB of RAM, so it runs in a worker
    thread, and a semaphore caps how many run at once: a login burst queues instead of
    exhausting memory or starving the event loop.
    """

    def __init__(
        self,
        *,
        max_concurrency: int = 4,
        time_cost: int = 3,
        memory_cost: int = 64 * 1024,
        parallelism: int = 4,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self._argon2 = _Argon2(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            type=Type.ID,
        )
        self._slots = asyncio.Semaphore(max_concurrency)
        self._dummy_hash: str | None = None

    def limited(self, max_concurrency: int) -> Argon2PasswordHasher:
        """The same hashing with a semaphore of its own: ``max_concurrency`` more threads at
        most, never a slot of this hasher's (e.g. registration beside sign-in)."""
        other = object.__new__(Argon2PasswordHasher)
        other._argon2 = self._argon2
        other._slots = asyncio.Semaphore(max_concurrency)
        other._dummy_hash = None
        return other

    def __repr__(self) -> str:
        p = self._argon2
        return (
            f"Argon2PasswordHasher(time_cost={p.time_cost}, memory_cost={p.memory_cost}, "
            f"parallelism={p.parallelism})"
        )

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._argon2.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(self._verify, password_hash, password)

    async def burn(self, password: str) -> None:
        if self._dummy_hash is None:
            # Making the dummy hash costs what a verification does, so even the first burn
            # takes the time of a wrong password.
            self._dummy_hash = await self.hash(_DUMMY_PASSWORD)
            return
        await self.verify(self._dummy_hash, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
