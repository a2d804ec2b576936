"""Run a coroutine to completion from synchronous code, even when an event loop is running."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_blocking(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run(make())``; from inside a running loop (an app's startup, an async test)
    a nested ``asyncio.run`` is refused, so a worker thread runs it on a loop of its own. That
    blocks the calling loop while it runs: from async code prefer ``asyncio.to_thread``."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reflective-db") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()
