"""The device's local store: one SQLite file in the profile directory (0600).

It holds entries **encrypted** (the very ciphertext that is or will be uploaded, so a retry
after an interruption resends identical bytes and the server treats it as a no-op), the sync
state of each entry, the change cursor, encrypted metrics waiting for upload, and merged
conflict resolutions waiting to be sent. Every multi-step change happens in one transaction.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from reflective_client.files import private_dir
from reflective_client.models import EncryptedEntry
from reflective_client.wire import format_time, parse_time

SCHEMA_VERSION = 1

# Entry sync states.
CLEAN = "clean"  # the local version is the server's version at base_revision (or never synced)
DIRTY = "dirty"  # a local write or delete the server has not acknowledged
CONFLICT = "conflict"  # the server kept the local upload as an open conflict

# Whose job it is to upload an entry's metrics.
METRICS_PENDING = "pending"  # this device's entry, not yet encrypted for upload
METRICS_QUEUED = "queued"  # encrypted, in the outbox
METRICS_UPLOADED = "uploaded"
METRICS_NOT_MINE = "not_mine"  # another device's entry: its author uploads them

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    id TEXT PRIMARY KEY,
    content BLOB, iv BLOB, tag BLOB,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    device_id TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    base_revision INTEGER,
    state TEXT NOT NULL,
    conflict_id TEXT,
    origin TEXT NOT NULL,
    word_count INTEGER,
    sentiment REAL,
    metrics TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS shadows (
    id TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    content BLOB, iv BLOB, tag BLOB,
    created_at TEXT, updated_at TEXT, device_id TEXT
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id TEXT NOT NULL,
    metric_type TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    ciphertext BLOB NOT NULL,
    batch TEXT
);
CREATE TABLE IF NOT EXISTS resolutions (
    conflict_id TEXT PRIMARY KEY,
    entry_id TEXT NOT NULL,
    base_revision INTEGER,
    content BLOB NOT NULL, iv BLOB NOT NULL, tag BLOB,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, device_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tag_names (idx TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS packed_ledger (
    entry_id TEXT PRIMARY KEY,
    day TEXT NOT NULL,
    word_count REAL NOT NULL,
    sentiment REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS packed_pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    metric_type TEXT NOT NULL,
    year INTEGER NOT NULL,
    ciphertext BLOB NOT NULL
);
"""


@dataclass(frozen=True)
class LocalEntry:
    id: str
    content: bytes | None
    iv: bytes | None
    tag: bytes | None
    created_at: datetime
    updated_at: datetime
    device_id: str
    deleted: bool = False
    base_revision: int | None = None
    state: str = DIRTY
    conflict_id: str | None = None
    origin: str = "local"
    word_count: int | None = None
    sentiment: float | None = None
    metrics: str = METRICS_PENDING

    def __repr__(self) -> str:
        return f"LocalEntry({self.id}, {self.state}, base={self.base_revision}, del={self.deleted})"

    def encrypted(self) -> EncryptedEntry:
        if self.content is None or self.iv is None:
            raise ValueError("a deleted entry has no version")
        return EncryptedEntry(
            self.id,
            self.content,
            self.iv,
            self.tag,
            self.created_at,
            self.updated_at,
            self.device_id,
        )

    def same_version(self, other: EncryptedEntry) -> bool:
        """Same ciphertext and IV: the server's test for "the same upload"."""
        return self.content == other.content and self.iv == other.iv

    def changed(self, **changes: Any) -> LocalEntry:
        return replace(self, **changes)


@dataclass(frozen=True)
class Shadow:
    """The newest server state of an entry seen while the local version was unpushed."""

    id: str
    revision: int
    entry: EncryptedEntry | None  # None: a tombstone


@dataclass(frozen=True)
class Contribution:
    """What one entry adds to the packed years: its UTC day, word count and sentiment."""

    day: date
    word_count: float
    sentiment: float


@dataclass(frozen=True)
class OutboxItem:
    id: int
    entry_id: str
    metric_type: str
    timestamp: datetime
    ciphertext: bytes
    batch: str | None


class LocalStore:
    def __init__(self, path: Path | str, device_prefix: str = "py") -> None:
        self.path = path
        if str(path) != ":memory:":
            path = Path(path)
            private_dir(path.parent)
            if not path.exists():
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        # Autocommit; ``transaction()`` opens explicit ones.
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._depth = 0
        with self.transaction():
            for statement in filter(str.strip, _SCHEMA.split(";")):
                self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            if self.get_meta("device_id") is None:
                self.set_meta("device_id", f"{device_prefix}-{uuid.uuid4().hex[:12]}")

    @classmethod
    def in_memory(cls) -> LocalStore:
        return cls(":memory:")

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing. Nested uses join the outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._depth = 1
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")
        finally:
            self._depth = 0

    # --- meta -----------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            self._db.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            self._db.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    @property
    def device_id(self) -> str:
        value = self.get_meta("device_id")
        assert value is not None
        return value

    @property
    def cursor(self) -> str | None:
        return self.get_meta("cursor")

    @cursor.setter
    def cursor(self, value: str | None) -> None:
        self.set_meta("cursor", value)

    # --- entries --------------------------------------------------------------------------

    @staticmethod
    def _entry(row: sqlite3.Row) -> LocalEntry:
        return LocalEntry(
            id=row["id"],
            content=row["content"],
            iv=row["iv"],
            tag=row["tag"],
            created_at=parse_time(row["created_at"]),
            updated_at=parse_time(row["updated_at"]),
            device_id=row["device_id"],
            deleted=bool(row["deleted"]),
            base_revision=row["base_revision"],
            state=row["state"],
            conflict_id=row["conflict_id"],
            origin=row["origin"],
            word_count=row["word_count"],
            sentiment=row["sentiment"],
            metrics=row["metrics"],
        )

    def get(self, entry_id: str) -> LocalEntry | None:
        row = self._db.execute("SELECT * FROM entries WHERE id = ?", (entry_id,)).fetchone()
        return None if row is None else self._entry(row)

    def save(self, entry: LocalEntry) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO entries (id, content, iv, tag, created_at, updated_at,"
            " device_id, deleted, base_revision, state, conflict_id, origin, word_count,"
            " sentiment, metrics) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entry.id,
                entry.content,
                entry.iv,
                entry.tag,
                format_time(entry.created_at),
                format_time(entry.updated_at),
                entry.device_id,
                int(entry.deleted),
                entry.base_revision,
                entry.state,
                entry.conflict_id,
                entry.origin,
                entry.word_count,
                entry.sentiment,
                entry.metrics,
            ),
        )

    def remove(self, entry_id: str) -> None:
        self._db.execute("DELETE FROM entries WHERE id = ?", (entry_id,))
        self._db.execute("DELETE FROM shadows WHERE id = ?", (entry_id,))

    def entries(self, *, include_deleted: bool = False) -> list[LocalEntry]:
        """Newest first (by creation time, then id)."""
        where = "" if include_deleted else "WHERE deleted = 0"
        rows = self._db.execute(
            f"SELECT * FROM entries {where} ORDER BY created_at DESC, id"  # noqa: S608 - constant
        )
        return [self._entry(r) for r in rows]

    def with_state(self, state: str) -> list[LocalEntry]:
        rows = self._db.execute(
            "SELECT * FROM entries WHERE state = ? ORDER BY updated_at, id", (state,)
        )
        return [self._entry(r) for r in rows]

    def with_metrics(self, metrics: str) -> list[LocalEntry]:
        rows = self._db.execute(
            "SELECT * FROM entries WHERE metrics = ? AND deleted = 0 ORDER BY created_at, id",
            (metrics,),
        )
        return [self._entry(r) for r in rows]

    def counts(self) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT state, count(*) FROM entries WHERE deleted = 0 GROUP BY state"
        ).fetchall()
        counts = {str(r[0]): int(r[1]) for r in rows}
        counts["deleted_pending"] = int(
            self._db.execute("SELECT count(*) FROM entries WHERE deleted = 1").fetchone()[0]
        )
        counts["metrics_outbox"] = int(
            self._db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        )
        return counts

    def update_all(self, sql_set: str, where: str = "1 = 1", args: Sequence[Any] = ()) -> None:
        """Bulk state changes for tier transitions (``sql_set`` is always a constant)."""
        self._db.execute(f"UPDATE entries SET {sql_set} WHERE {where}", tuple(args))  # noqa: S608

    # --- shadows --------------------------------------------------------------------------

    def put_shadow(self, entry_id: str, revision: int, entry: EncryptedEntry | None) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO shadows (id, revision, deleted, content, iv, tag, created_at,"
            " updated_at, device_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entry_id,
                revision,
                int(entry is None),
                None if entry is None else entry.content,
                None if entry is None else entry.iv,
                None if entry is None else entry.tag,
                None if entry is None else format_time(entry.created_at),
                None if entry is None else format_time(entry.updated_at),
                None if entry is None else entry.device_id,
            ),
        )

    def get_shadow(self, entry_id: str) -> Shadow | None:
        row = self._db.execute("SELECT * FROM shadows WHERE id = ?", (entry_id,)).fetchone()
        if row is None:
            return None
        entry = None
        if not row["deleted"]:
            entry = EncryptedEntry(
                row["id"],
                row["content"],
                row["iv"],
                row["tag"],
                parse_time(row["created_at"]),
                parse_time(row["updated_at"]),
                row["device_id"],
            )
        return Shadow(row["id"], row["revision"], entry)

    def drop_shadow(self, entry_id: str) -> None:
        self._db.execute("DELETE FROM shadows WHERE id = ?", (entry_id,))

    def drop_all_shadows(self) -> None:
        self._db.execute("DELETE FROM shadows")

    # --- metrics outbox -------------------------------------------------------------------

    def add_outbox(
        self, entry_id: str, metric_type: str, timestamp: datetime, ciphertext: bytes
    ) -> None:
        self._db.execute(
            "INSERT INTO outbox (entry_id, metric_type, timestamp, ciphertext) VALUES (?, ?, ?, ?)",
            (entry_id, metric_type, format_time(timestamp), ciphertext),
        )

    def outbox(self, *, in_flight: bool | None = None) -> list[OutboxItem]:
        where = {None: "", True: "WHERE batch IS NOT NULL", False: "WHERE batch IS NULL"}[in_flight]
        rows = self._db.execute(f"SELECT * FROM outbox {where} ORDER BY id")  # noqa: S608
        return [
            OutboxItem(
                r["id"],
                r["entry_id"],
                r["metric_type"],
                parse_time(r["timestamp"]),
                r["ciphertext"],
                r["batch"],
            )
            for r in rows
        ]

    def outbox_size(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def mark_batch(self, item_ids: Sequence[int], batch: str | None) -> None:
        self._db.executemany(
            "UPDATE outbox SET batch = ? WHERE id = ?", [(batch, i) for i in item_ids]
        )

    def delivered(self, item_ids: Sequence[int]) -> None:
        """Remove delivered items; an entry whose items are all gone counts as uploaded."""
        entry_ids = {
            r[0]
            for i in item_ids
            for r in self._db.execute("SELECT entry_id FROM outbox WHERE id = ?", (i,))
        }
        self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in item_ids])
        for entry_id in entry_ids:
            left = self._db.execute(
                "SELECT count(*) FROM outbox WHERE entry_id = ?", (entry_id,)
            ).fetchone()[0]
            if not left:
                self._db.execute(
                    "UPDATE entries SET metrics = ? WHERE id = ? AND metrics = ?",
                    (METRICS_UPLOADED, entry_id, METRICS_QUEUED),
                )

    def clear_outbox(self) -> None:
        self._db.execute("DELETE FROM outbox")

    # --- merged resolutions waiting to be sent ----------------------------------------------

    def put_resolution(
        self, conflict_id: str, merged: EncryptedEntry, base_revision: int | None
    ) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO resolutions (conflict_id, entry_id, base_revision, content,"
            " iv, tag, created_at, updated_at, device_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                conflict_id,
                merged.id,
                base_revision,
                merged.content,
                merged.iv,
                merged.tag,
                format_time(merged.created_at),
                format_time(merged.updated_at),
                merged.device_id,
            ),
        )

    def resolutions(self) -> dict[str, tuple[EncryptedEntry, int | None]]:
        """Merged versions persisted before sending, by conflict id, with the revision
        they were merged against."""
        rows = self._db.execute("SELECT * FROM resolutions ORDER BY conflict_id")
        return {
            r["conflict_id"]: (
                EncryptedEntry(
                    r["entry_id"],
                    r["content"],
                    r["iv"],
                    r["tag"],
                    parse_time(r["created_at"]),
                    parse_time(r["updated_at"]),
                    r["device_id"],
                ),
                r["base_revision"],
            )
            for r in rows
        }

    def drop_resolution(self, conflict_id: str) -> None:
        self._db.execute("DELETE FROM resolutions WHERE conflict_id = ?", (conflict_id,))

    def drop_all_resolutions(self) -> None:
        self._db.execute("DELETE FROM resolutions")

    # --- tag display names (for names too long to travel sealed) ----------------------------

    def remember_tag(self, index: str, name: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO tag_names (idx, name) VALUES (?, ?)", (index, name)
        )

    def tag_name(self, index: str) -> str | None:
        row = self._db.execute("SELECT name FROM tag_names WHERE idx = ?", (index,)).fetchone()
        return None if row is None else str(row[0])

    # --- packed metrics ----------------------------------------------------------------------

    def packed_ledger(self) -> dict[str, Contribution]:
        """What the server's packed years hold of this device's entries."""
        rows = self._db.execute("SELECT entry_id, day, word_count, sentiment FROM packed_ledger")
        return {
            str(r[0]): Contribution(date.fromisoformat(r[1]), float(r[2]), float(r[3]))
            for r in rows
        }

    def update_packed_ledger(self, changes: dict[str, Contribution | None]) -> None:
        for entry_id, contribution in changes.items():
            if contribution is None:
                self._db.execute("DELETE FROM packed_ledger WHERE entry_id = ?", (entry_id,))
            else:
                self._db.execute(
                    "INSERT INTO packed_ledger(entry_id, day, word_count, sentiment) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT(entry_id) DO UPDATE SET day = excluded.day, "
                    "word_count = excluded.word_count, sentiment = excluded.sentiment",
                    (
                        entry_id,
                        contribution.day.isoformat(),
                        contribution.word_count,
                        contribution.sentiment,
                    ),
                )

    def packed_pending(self) -> list[tuple[str, int, bytes]]:
        """The packed upload sent (or about to be) whose answer has not been seen."""
        rows = self._db.execute(
            "SELECT metric_type, year, ciphertext FROM packed_pending ORDER BY id"
        )
        return [(str(r[0]), int(r[1]), bytes(r[2])) for r in rows]

    def put_packed_pending(self, items: Sequence[tuple[str, int, bytes]]) -> None:
        self._db.executemany(
            "INSERT INTO packed_pending(metric_type, year, ciphertext) VALUES (?, ?, ?)", items
        )

    def clear_packed(self, *, ledger: bool) -> None:
        self._db.execute("DELETE FROM packed_pending")
        if ledger:
            self._db.execute("DELETE FROM packed_ledger")
