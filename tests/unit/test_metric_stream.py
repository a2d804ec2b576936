"""The streamed metrics parser holds a bounded amount of memory whatever the body holds.

Each hostile body is produced chunk by chunk (1 MiB chunks, larger than the parser's slices,
the same bytes object repeated), so the body itself is never in memory; what the parser
allocates meanwhile is measured with tracemalloc. Before the bounds, these bodies cost from
tens of megabytes (a chunk's events held at once) to gigabytes (events carrying their whole
path, at every level of 100,000 nested arrays).
"""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator, Iterable

import pytest
from litestar.exceptions import ValidationException

from reflective_app.metric_stream import MAX_DEPTH, MAX_TOKEN_BYTES, metric_uploads

MIB = 1024 * 1024
PEAK_LIMIT = 8 * MIB
"""Well above what the bounded parser needs (about 1 MiB), far below what any body here
would cost unbounded."""


def _repeat(head: bytes, unit: bytes, total: int, tail: bytes) -> Iterable[bytes]:
    yield head
    chunk = unit * (MIB // len(unit))
    for _ in range(total // len(chunk)):
        yield chunk
    yield tail


async def _chunks(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


HOSTILE = {
    "nested arrays": lambda: _repeat(b"", b"[", 16 * MIB, b""),
    "nested maps": lambda: _repeat(b"", b'{"a":', 16 * MIB, b""),
    "nested junk in an item": lambda: _repeat(b'{"metrics": [{"junk": ', b"[", 16 * MIB, b""),
    "a long string": lambda: _repeat(b'{"metrics": [{"encrypted_value": "', b"A", 64 * MIB, b""),
    "a long number": lambda: _repeat(b'{"metrics": [{"log_id": ', b"1", 64 * MIB, b""),
    "a long key": lambda: _repeat(b'{"', b"k", 64 * MIB, b'": 1}'),
    "many small events": lambda: _repeat(b'{"junk": [', b"[], ", 4 * MIB, b"[]]}"),
}


@pytest.mark.parametrize("body", list(HOSTILE.values()), ids=list(HOSTILE))
async def test_a_hostile_body_is_refused_from_bounded_memory(body: Iterable[bytes]) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ValidationException) as refused:
            async for _ in metric_uploads(_chunks(body())):
                pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PEAK_LIMIT, f"{peak / MIB:.1f} MiB"
    assert refused.value.extra, refused.value


async def test_nesting_up_to_the_limit_is_skipped_in_an_unknown_field() -> None:
    depth = MAX_DEPTH - 3  # the body, the metrics array and the item are 3 levels
    junk = b"[" * depth + b"]" * depth
    body = b'{"metrics": [], "junk": ' + junk + b"}"
    assert [item async for item in metric_uploads(_chunks([body]))] == []


async def test_one_level_more_is_refused() -> None:
    depth = MAX_DEPTH  # with the top-level object, one more than the limit
    body = b'{"junk": ' + b"[" * depth + b"]" * depth + b', "metrics": []}'
    with pytest.raises(ValidationException, match="Validation failed") as refused:
        async for _ in metric_uploads(_chunks([body])):
            pass
    assert f"deeper than {MAX_DEPTH}" in str(refused.value.extra)


async def test_a_value_as_long_as_the_limit_is_read() -> None:
    # A long unknown value is skipped, not refused, up to the token limit.
    body = b'{"metrics": [], "junk": "' + b"A" * (MAX_TOKEN_BYTES - 2) + b'"}'
    assert [item async for item in metric_uploads(_chunks([body]))] == []
