from __future__ import annotations

import pytest

from reflective_app.container import Container
from tests.composition import memory_container


@pytest.fixture
def container() -> Container:
    """The server's container on a fresh memory store and fakes (``tests.composition``)."""
    return memory_container()
