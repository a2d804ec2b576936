"""The two-device story both the end-to-end test and the zero-knowledge audit run: register,
write, sync, concurrent edit, conflict, merge, delete, tombstone, metrics, stats, tags,
downgrade. Every text the devices write comes from ``Texts`` so the audit can look for it."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from reflective_client.crypto.envelope import KdfCost
from reflective_client.device import Device
from reflective_client.keystore import MemoryKeyStore
from reflective_client.store import CLEAN, CONFLICT
from tests.integration.client.conftest import Server, close, new_device

FAST_KDF = KdfCost(time_cost=1, memory_cost=1024, parallelism=1)


@dataclass
class Texts:
    """What the user writes. ``marker`` is mixed into every text (a sentinel in the audit)."""

    marker: str = ""
    password: str = "correct horse battery staple"
    email: str = field(default_factory=lambda: f"e2e-{uuid.uuid4().hex[:8]}@example.com")

    def text(self, body: str) -> str:
        return f"{body} {self.marker}".strip()

    @property
    def first(self) -> str:
        return self.text("I love the quiet of the lake in the morning.")

    @property
    def second(self) -> str:
        return self.text("A terrible, exhausting day at work.")

    @property
    def laptop_edit(self) -> str:
        return self.text("The lake in the morning, then rain all afternoon.")

    @property
    def phone_edit(self) -> str:
        return self.text("The lake in the morning, and a long swim.")

    @property
    def merged(self) -> str:
        return self.text("The lake in the morning, a long swim, then rain all afternoon.")

    tag_marker: str = field(default_factory=lambda: f"T{uuid.uuid4().hex[:20]}")

    @property
    def tag(self) -> str:
        """Short enough to travel sealed in the tag's server name."""
        return f"Calm {self.tag_marker}"

    @property
    def long_tag(self) -> str:
        """Too long to seal: the server gets its blind index only."""
        return self.text("Things I want to remember about this particular summer")


@dataclass
class Outcome:
    laptop: Device
    phone: Device


async def _nothing(stage: str) -> None:
    return None


async def two_device_story(
    server: Server,
    tmp: Path,
    texts: Texts,
    checkpoint: Callable[[str], Awaitable[None]] = _nothing,
) -> Outcome:
    """The story; ``checkpoint("peak")`` runs when the server holds the most (entries,
    conflicts, metrics, tags, the HE public key), just before the downgrades."""
    laptop = new_device(server, tmp / "laptop")
    await laptop.register(texts.email, texts.password, "E2E writer")
    await laptop.set_tier("full_sync")
    key_file = tmp / "keys.reflective"
    laptop.export_keys(key_file, "passphrase for the audit", FAST_KDF)
    phone = new_device(server, tmp / "phone", MemoryKeyStore())
    phone.import_keys(key_file, "passphrase for the audit")
    await phone.login(texts.email, texts.password)

    # Write on the laptop, read on the phone.
    first = laptop.write(texts.first)
    second = laptop.write(texts.second)
    await laptop.add_tag(texts.tag)
    await laptop.add_tag(texts.long_tag)
    await laptop.sync()
    await phone.sync()
    assert {e.text for e in phone.entries()} == {texts.first, texts.second}
    assert {t.name for t in await laptop.tags()} == {texts.tag, texts.long_tag}
    assert {t.name for t in await phone.tags()} == {texts.tag, None}  # the long one stays local

    # Concurrent edits: the phone's upload conflicts; it merges.
    laptop.write(texts.laptop_edit, first.id)
    phone.write(texts.phone_edit, first.id)
    await laptop.sync()
    report = await phone.sync()
    assert report.entries is not None and len(report.entries.conflicts) == 1
    assert phone.store.get(first.id).state == CONFLICT  # type: ignore[union-attr]
    [conflict] = await phone.conflicts()
    assert (conflict.local_text, conflict.remote_text) == (texts.phone_edit, texts.laptop_edit)
    await phone.resolve(conflict.id, "merged", texts.merged)
    await laptop.sync()
    for device in (laptop, phone):
        assert device.entry(first.id).text == texts.merged  # type: ignore[union-attr]
        assert device.store.get(first.id).state == CLEAN  # type: ignore[union-attr]

    # A deletion on the phone reaches the laptop as a tombstone.
    phone.delete(second.id)
    await phone.sync()
    laptop_report = await laptop.sync()
    assert laptop_report.entries is not None and laptop_report.entries.tombstones == 1
    assert [e.id for e in laptop.entries()] == [first.id]

    # Metrics: measured on the devices, summed blind by the server, decrypted on the phone.
    # The edits replaced the entry's metrics and the deletion retracted the other's: the
    # stats describe the merged entry only, with no rebuild.
    stats = await phone.stats(weeks=2, today=first.created_at.date())
    assert stats.words is not None and stats.words.count == 1
    assert stats.words.total == pytest.approx(laptop.entry(first.id).word_count, abs=1e-3)  # type: ignore[union-attr]
    assert stats.weeks[-1].words == pytest.approx(stats.words.total, abs=1e-3)

    await checkpoint("peak")

    # Downgrade: the server forgets entries, then metrics; the devices keep their entries.
    await laptop.set_tier("analytics_sync")
    assert (await laptop.api.export()).entries == []
    await laptop.set_tier("local_only")
    exported = await laptop.api.export()
    assert exported.metrics == [] and exported.account.he_public_key is None
    assert [e.text for e in laptop.entries()] == [texts.merged]
    assert [e.text for e in phone.entries()] == [texts.merged]
    await close(laptop, phone)
    return Outcome(laptop, phone)
