"""The metrics upload body, ``{"metrics": [{...}, ...]}``, parsed as it arrives.

A yajl-based incremental parser (ijson) turns each chunk of bytes into events; a small state
machine assembles the items of the top-level ``metrics`` array one at a time and converts each
into a domain :class:`MetricUpload` with the same DTO (and the same 422s) as a whole-body
decode would. Unknown fields, at the top or in an item, are skipped whatever they hold.

Memory is bounded by constants, not by anything the body claims or repeats:

* the parser gets the body in slices of ``SLICE_BYTES``, and the events of one slice are
  handled before the next is fed (a chunk of a megabyte of ``[`` is a million events);
* events carry no prefix (ijson's prefixed events repeat the whole path at every level,
  which made 100,000 nested arrays cost gigabytes);
* nesting deeper than ``MAX_DEPTH`` is refused (an item is 3 levels deep);
* a single token (string, number, key) longer than ``MAX_TOKEN_BYTES`` is refused while it
  arrives: the parser holds an unfinished token whole, and the body limit is gigabytes.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import ijson
import msgspec
from litestar.exceptions import ValidationException

from reflective_app.bodies import MalformedBody, validation_error
from reflective_app.dto.encryption import metric_upload
from reflective_domain.use_cases.metrics import MetricUpload
from reflective_protocol.encryption import MetricItem

_FIELDS = frozenset(MetricItem.__struct_fields__)
_SCALARS = frozenset(("string", "number", "boolean", "null"))
_OPEN = frozenset(("start_map", "start_array"))
_CLOSE = frozenset(("end_map", "end_array"))

SLICE_BYTES = 16 * 1024
MAX_DEPTH = 64
MAX_TOKEN_BYTES = 4 * 1024 * 1024
"""Base64 of the largest ciphertext the server loads (2 MiB) is 2.8 MB; the rest is room for
JSON escapes."""


class _Events:
    """ijson's push target: collects the events of one chunk."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []

    def send(self, event: tuple[str, Any]) -> None:
        self.items.append(event)


def _invalid(key: str, message: str) -> ValidationException:
    return ValidationException(
        detail="Validation failed",
        extra=[{"message": message, "key": key, "source": "body"}],
    )


class _Assembler:
    """Builds the items of ``metrics`` from parser events (prefixes are not trusted: a key
    may contain dots, so the position is tracked by depth)."""

    def __init__(self) -> None:
        self.depth = 0
        self.skip_to: int | None = None  # skipping a value until depth returns to this
        self.top_key: str | None = None
        self.in_metrics = False
        self.seen_metrics = False
        self.item: dict[str, Any] | None = None
        self.field: str | None = None
        self.index = 0

    def feed(self, kind: str, value: Any) -> dict[str, Any] | None:
        """Take one event; return an item when one is complete."""
        if self.skip_to is not None:
            self._move(kind)
            if self.depth == self.skip_to:
                self.skip_to = None
            return None
        if self.depth == 0:
            if kind != "start_map":
                raise _invalid("data", "Expected `object`")
            self.depth = 1
            return None
        if self.depth == 1:
            self._top(kind, value)
            return None
        if self.depth == 2:
            self._array(kind)
            return None
        return self._field(kind, value)

    def where(self) -> str:
        """The item being read, for messages."""
        return f"metrics[{self.index}]" if self.item is not None else "data"

    def _move(self, kind: str) -> None:
        if kind in _OPEN:
            self._deeper()
        elif kind in _CLOSE:
            self.depth -= 1

    def _deeper(self) -> None:
        if self.depth >= MAX_DEPTH:
            raise _invalid(self.where(), f"Nested deeper than {MAX_DEPTH} levels")
        self.depth += 1

    def _top(self, kind: str, value: Any) -> None:
        if kind == "map_key":
            self.top_key = value
            return None
        if kind == "end_map":
            self.depth = 0
            return None
        if self.top_key == "metrics":
            if kind != "start_array":
                raise _invalid("metrics", "Expected `array`")
            self.in_metrics = self.seen_metrics = True
            self.depth = 2
            return None
        if kind in _OPEN:  # an unknown field holding a container: skip it whole
            self._deeper()
            self.skip_to = 1
        return None

    def _array(self, kind: str) -> None:
        if kind == "end_array":
            self.in_metrics = False
            self.depth = 1
            return None
        if kind != "start_map":
            raise _invalid(f"metrics[{self.index}]", "Expected `object`")
        self.item = {}
        self.depth = 3
        return None

    def _field(self, kind: str, value: Any) -> dict[str, Any] | None:
        assert self.item is not None
        if kind == "map_key":
            self.field = value
            return None
        if kind == "end_map":
            item, self.item = self.item, None
            self.depth = 2
            self.index += 1
            return item
        if self.field in _FIELDS:
            if kind not in _SCALARS:
                raise _invalid(
                    f"metrics[{self.index}].{self.field}", "Expected a string, number or null"
                )
            self.item[self.field] = value
        elif kind in _OPEN:
            self._deeper()
            self.skip_to = 3
        return None


def _convert(index: int, raw: dict[str, Any]) -> MetricUpload:
    try:
        item = msgspec.convert(raw, MetricItem)
    except msgspec.ValidationError as exc:
        raise validation_error(exc, f"metrics[{index}]") from None
    return metric_upload(item)


async def metric_uploads(chunks: AsyncIterator[bytes]) -> AsyncGenerator[MetricUpload, None]:
    """Each metric of the body, in order, as soon as its closing brace has arrived."""
    events = _Events()
    parser = ijson.basic_parse_coro(events, use_float=True)
    assembler = _Assembler()
    pending = 0  # bytes fed since the last event: at least the unfinished token's length

    def feed(piece: bytes) -> list[MetricUpload]:
        nonlocal pending
        try:
            parser.send(piece)
        except (ijson.JSONError, UnicodeDecodeError):  # not JSON, or not UTF-8
            raise MalformedBody from None
        if events.items:
            pending = 0
        else:
            pending += len(piece)
            if pending > MAX_TOKEN_BYTES:
                raise _invalid(assembler.where(), f"A value is longer than {MAX_TOKEN_BYTES} bytes")
        return drain()

    def drain() -> list[MetricUpload]:
        done = []
        for kind, value in events.items:
            raw = assembler.feed(kind, value)
            if raw is not None:
                done.append(_convert(assembler.index - 1, raw))
        events.items.clear()
        return done

    async for chunk in chunks:
        for start in range(0, len(chunk), SLICE_BYTES):
            for item in feed(chunk[start : start + SLICE_BYTES]):
                yield item
    try:
        parser.close()
    except (ijson.JSONError, UnicodeDecodeError):
        raise MalformedBody from None
    for item in drain():
        yield item
    if not assembler.seen_metrics:
        raise _invalid("data", "Object missing required field `metrics`")
