"""Encrypted entry versions and uploads for unit tests: opaque bytes, unique unless given."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from reflective_domain.entries import EntryVersion, Upload

UTC = timezone.utc

_counter = 0


def version(
    device: str = "phone",
    content: bytes | None = None,
    at: datetime | None = None,
) -> EntryVersion:
    """A fresh encrypted version: unique ciphertext and IV unless ``content`` is given."""
    global _counter
    _counter += 1
    moment = at or datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    return EntryVersion(
        content=content if content is not None else f"ciphertext-{_counter}".encode(),
        iv=_counter.to_bytes(12, "big"),
        tag=b"t" * 16,
        created_at=moment,
        updated_at=moment,
        device_id=device,
    )


def upload(entry_id: uuid.UUID, v: EntryVersion, base: int | None = None) -> Upload:
    return Upload(entry_id, v, base)
