"""The local store: private on disk, transactional, stable device id."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from reflective_client.store import (
    CLEAN,
    DIRTY,
    METRICS_QUEUED,
    METRICS_UPLOADED,
    LocalEntry,
    LocalStore,
)

UTC = timezone.utc
MOMENT = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


def entry(entry_id: str = "e1", **changes: object) -> LocalEntry:
    base = LocalEntry(entry_id, b"ct", b"i" * 12, b"t" * 16, MOMENT, MOMENT, "dev")
    return base.changed(**changes)


def test_file_is_private_and_the_device_id_stable(tmp_path: Path) -> None:
    path = tmp_path / "profile" / "local.sqlite3"
    store = LocalStore(path)
    device_id = store.device_id
    store.save(entry())
    store.close()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    again = LocalStore(path)
    assert again.device_id == device_id and again.get("e1") == entry()
    again.close()


def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s.sqlite3")
    with pytest.raises(RuntimeError), store.transaction():
        store.save(entry())
        store.cursor = "5"
        raise RuntimeError("crash in the middle of applying a page")
    assert store.get("e1") is None and store.cursor is None
    with store.transaction(), store.transaction():  # nested joins the outer one
        store.save(entry())
    assert store.get("e1") is not None


def test_entries_are_newest_first_and_states_are_queryable() -> None:
    store = LocalStore.in_memory()
    store.save(entry("old", state=CLEAN))
    store.save(entry("new", created_at=MOMENT.replace(hour=11), state=DIRTY))
    store.save(entry("gone", deleted=True, content=None, iv=None, tag=None))
    assert [e.id for e in store.entries()] == ["new", "old"]
    assert {e.id for e in store.with_state(DIRTY)} == {"new", "gone"}
    assert store.counts()["deleted_pending"] == 1


def test_outbox_delivery_marks_entries_uploaded() -> None:
    store = LocalStore.in_memory()
    store.save(entry(metrics=METRICS_QUEUED))
    store.add_outbox("e1", "word_count", MOMENT, b"c1")
    store.add_outbox("e1", "sentiment_score", MOMENT, b"c2")
    first, second = store.outbox()
    store.mark_batch([first.id, second.id], "batch-1")
    assert store.outbox(in_flight=False) == []
    store.delivered([first.id])
    assert store.get("e1").metrics == METRICS_QUEUED  # type: ignore[union-attr]
    store.delivered([second.id])
    assert store.get("e1").metrics == METRICS_UPLOADED  # type: ignore[union-attr]
    assert store.outbox_size() == 0
