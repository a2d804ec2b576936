"""Encrypted metric uploads that survive interruptions without counting anything twice.

Metrics are encrypted once and kept in the local outbox **before** any upload. A batch is
marked "in flight" before it is sent. The server stores a batch all or nothing, but its
metrics upload is not idempotent (a resent batch would be stored twice), so a batch whose
answer was lost is not resent blindly: the account export (which lists every stored metric
ciphertext) tells whether it arrived. Each device uploads the metrics of the entries it
created; entries arriving from other devices were measured by their author.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable

from reflective_client.analysis import SENTIMENT, WORD_COUNT
from reflective_client.crypto.keys import UserKeys
from reflective_client.errors import ApiError, ServerError, TransportError
from reflective_client.http import AsyncReflectiveClient
from reflective_client.store import METRICS_PENDING, METRICS_QUEUED, LocalStore, OutboxItem
from reflective_protocol.encryption import MetricItem

Progress = Callable[[str, int, int], None]
"""``progress(task, done, total)``."""

# ~220 KB of base64 per seeded ciphertext: ~150 metrics, well under the server's body limit.
MAX_BATCH_BYTES = 32 * 1024 * 1024


def _silent(task: str, done: int, total: int) -> None:
    return None


def _digest(ciphertext: bytes) -> bytes:
    return hashlib.sha256(ciphertext).digest()


class MetricUploader:
    def __init__(
        self,
        api: AsyncReflectiveClient,
        store: LocalStore,
        keys: UserKeys,
        max_batch_bytes: int = MAX_BATCH_BYTES,
    ) -> None:
        self.api, self.store, self.keys = api, store, keys
        self.max_batch_bytes = max_batch_bytes

    def queue(self, progress: Progress = _silent, *, any_origin: bool = False) -> int:
        """Encrypt the metrics of this device's unmeasured entries (``any_origin``: of every
        unmeasured entry, for a rebuild) into the outbox."""
        entries = [
            e
            for e in self.store.with_metrics(METRICS_PENDING)
            if (any_origin or e.origin == "local")
            and e.word_count is not None
            and e.sentiment is not None
        ]
        if not entries:
            return 0
        ckks = self.keys.ckks
        for done, entry in enumerate(entries, 1):
            assert entry.word_count is not None and entry.sentiment is not None
            values = {WORD_COUNT: float(entry.word_count), SENTIMENT: entry.sentiment}
            ciphertexts = {name: ckks.encrypt(value) for name, value in values.items()}
            with self.store.transaction():
                for name, ciphertext in ciphertexts.items():
                    self.store.add_outbox(entry.id, name, entry.created_at, ciphertext)
                self.store.save(entry.changed(metrics=METRICS_QUEUED))
            progress("encrypting metrics", done, len(entries))
        return len(entries)

    async def flush(self, progress: Progress = _silent) -> int:
        """Upload the outbox in batches; returns how many metrics the server stored."""
        await self.reconcile()
        batches = self._batches(self.store.outbox(in_flight=False))
        total, sent = sum(len(b) for b in batches), 0
        progress("uploading metrics", 0, total)
        for batch in batches:
            batch_id = uuid.uuid4().hex
            with self.store.transaction():
                self.store.mark_batch([i.id for i in batch], batch_id)
            metrics = [
                MetricItem(i.metric_type, i.ciphertext, i.timestamp, i.entry_id) for i in batch
            ]
            try:
                await self.api.upload_metrics(metrics)
            except (TransportError, ServerError):
                raise  # outcome unknown: stays in flight, reconciled next time
            except ApiError:
                with self.store.transaction():  # definitely refused: back in the queue
                    self.store.mark_batch([i.id for i in batch], None)
                raise
            with self.store.transaction():
                self.store.delivered([i.id for i in batch])
            sent += len(batch)
            progress("uploading metrics", sent, total)
        return sent

    async def reconcile(self) -> int:
        """Settle batches whose answer was lost: delivered if the server holds their
        ciphertexts, else back in the queue. Returns how many were found delivered."""
        in_flight = self.store.outbox(in_flight=True)
        if not in_flight:
            return 0
        export = await self.api.export()
        stored = {_digest(m.encrypted_value) for m in export.metrics}
        delivered = [i.id for i in in_flight if _digest(i.ciphertext) in stored]
        with self.store.transaction():
            self.store.delivered(delivered)
            self.store.mark_batch([i.id for i in in_flight if i.id not in set(delivered)], None)
        return len(delivered)

    def _batches(self, items: list[OutboxItem]) -> list[list[OutboxItem]]:
        batches: list[list[OutboxItem]] = []
        current: list[OutboxItem] = []
        size = 0
        for item in items:
            cost = len(item.ciphertext) * 4 // 3 + 200
            if current and size + cost > self.max_batch_bytes:
                batches.append(current)
                current, size = [], 0
            current.append(item)
            size += cost
        if current:
            batches.append(current)
        return batches
