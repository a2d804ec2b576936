"""Run SEAL work away from the event loop, with a cap on how much runs at once."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar

T = TypeVar("T")


class Offloader:
    """Runs synchronous functions in ``executor`` (the loop's default thread pool if None).

    TenSEAL's bindings hold the GIL during each SEAL call, so threads give the event loop its
    turn between calls rather than during them; callers keep each call short (one load, one
    addition) so the loop is never held for more than a few milliseconds. A
    ``ProcessPoolExecutor`` also works (the functions and arguments used are picklable) and
    adds real parallelism. The semaphore bounds memory and queueing under bursts.
    """

    def __init__(self, executor: Executor | None = None, max_concurrency: int = 4) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self._executor = executor
        self._slots = asyncio.Semaphore(max_concurrency)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        async with self._slots:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args))
