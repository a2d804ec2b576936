"""Two devices, one account, the real app over PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.integration.client.scenario import Texts, two_device_story


async def test_two_devices_end_to_end(start_server: Any, tmp_path: Path) -> None:
    async with start_server() as server:
        await two_device_story(server, tmp_path, Texts())
