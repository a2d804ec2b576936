"""The hot path's cheaper layers keep the old behaviour: entries read by position equal those
read by name, and the merged middleware's headers are set once, replacing any of the same
name."""

from __future__ import annotations

import uuid
from collections import namedtuple
from datetime import datetime, timezone

from litestar.types import HTTPResponseStartEvent

from reflective_adapters.postgres.mappers import entry_from_row, entry_reader
from reflective_app.security_headers import (
    API_CSP,
    DOCS_CSP,
    add_security_headers,
    security_headers,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
# Another order than the table's, with an extra column, as a listing's rows have.
COLUMNS = (
    "total_matching",
    "content",
    "id",
    "synced_at",
    "user_id",
    "embedding_iv",
    "revision",
    "change_seq",
    "iv",
    "device_id",
    "tag",
    "created_at",
    "updated_at",
    "version_device_id",
    "embedding",
)
Row = namedtuple("Row", COLUMNS)  # type: ignore[misc]


def row(**values: object) -> Row:
    base: dict[str, object] = {
        "total_matching": 7,
        "content": b"c" * 64,
        "id": uuid.uuid4(),
        "synced_at": NOW,
        "user_id": uuid.uuid4(),
        "embedding_iv": None,
        "revision": 3,
        "change_seq": 41,
        "iv": memoryview(b"i" * 12),
        "device_id": "phone",
        "tag": b"t" * 16,
        "created_at": NOW,
        "updated_at": NOW,
        "version_device_id": "laptop",
        "embedding": None,
    }
    base.update(values)
    return Row(**base)


def test_entries_read_by_position_equal_entries_read_by_name() -> None:
    read = entry_reader(COLUMNS)
    samples = [
        row(),
        row(embedding=b"e" * 32, embedding_iv=b"j" * 16, tag=None),
        row(  # a tombstone
            content=None,
            iv=None,
            tag=None,
            created_at=None,
            updated_at=None,
            version_device_id=None,
        ),
    ]
    for sample in samples:
        entry = read(sample)
        assert entry == entry_from_row(sample)
        if entry.version is not None:
            assert type(entry.version.iv) is bytes


def start(*headers: tuple[bytes, bytes]) -> HTTPResponseStartEvent:
    return {"type": "http.response.start", "status": 200, "headers": list(headers)}


def test_security_headers_replace_their_own_names_and_keep_a_chosen_cache_control() -> None:
    chosen, api = security_headers("/api/sync/backups")
    message = start(
        (b"content-type", b"application/json"),
        (b"Content-Security-Policy", b"default-src *"),
        (b"cache-control", b"max-age=60"),
        (b"x-request-id", b"from-the-handler"),
    )
    add_security_headers(message, chosen, api, (b"x-request-id", b"abc"))
    headers = message["headers"]
    names = [name.lower() for name, _ in headers]
    assert len(names) == len(set(names))
    found = dict(headers)
    assert found[b"content-security-policy"] == API_CSP.encode()
    assert found[b"x-content-type-options"] == b"nosniff"
    assert found[b"referrer-policy"] == b"no-referrer"
    assert found[b"cache-control"] == b"max-age=60"
    assert found[b"x-request-id"] == b"abc"
    assert found[b"content-type"] == b"application/json"


def test_api_answers_get_no_store_and_docs_their_own_policy() -> None:
    chosen, api = security_headers("/api/users/me")
    message = start()
    add_security_headers(message, chosen, api)
    assert dict(message["headers"])[b"cache-control"] == b"no-store"
    chosen, api = security_headers("/docs/openapi.json")
    message = start()
    add_security_headers(message, chosen, api)
    found = dict(message["headers"])
    assert found[b"content-security-policy"] == DOCS_CSP.encode()
    assert b"cache-control" not in found
