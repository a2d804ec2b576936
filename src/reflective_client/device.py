"""One device of a user: the API, the local store and the keys, behind the user's intents
(register, write, sync, resolve, read stats...). The CLI, the demo and the end-to-end tests
all drive this class."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import msgspec

from reflective_client import keyfile
from reflective_client.analysis import measure
from reflective_client.crypto import envelope
from reflective_client.crypto.keys import UserKeys
from reflective_client.errors import (
    BadRequestError,
    DecryptionError,
    KeysMissing,
    NotFoundError,
    ReflectiveError,
    TierError,
    TransportError,
)
from reflective_client.files import write_private
from reflective_client.http import AsyncReflectiveClient
from reflective_client.keystore import KeyStore
from reflective_client.models import context_parameters
from reflective_client.packed import PackedUploader, PackedYears
from reflective_client.stats import PackedStatsReader, Stats, StatsReader
from reflective_client.store import (
    CLEAN,
    CONFLICT,
    DIRTY,
    METRICS_PENDING,
    METRICS_QUEUED,
    METRICS_UPLOADED,
    LocalEntry,
    LocalStore,
)
from reflective_client.sync import SyncEngine, SyncReport
from reflective_client.uploads import MetricUploader, Progress, _silent
from reflective_client.wire import format_time, now
from reflective_protocol.privacy import PrivacyView, Tier
from reflective_protocol.tags import TagView
from reflective_protocol.users import UserProfile

TIERS = tuple(tier.value for tier in Tier)
_RANK = {tier: rank for rank, tier in enumerate(TIERS)}


@dataclass(frozen=True)
class JournalEntry:
    """An entry as the user reads it (``text`` None: it does not decrypt with these keys)."""

    id: str
    text: str | None
    created_at: datetime
    updated_at: datetime
    device_id: str
    state: str
    word_count: int | None
    sentiment: float | None


@dataclass(frozen=True)
class ConflictView:
    id: str
    log_id: str
    local_text: str | None
    local_device: str
    local_updated_at: datetime
    remote_text: str | None
    remote_device: str | None
    remote_updated_at: datetime | None
    detected_at: datetime


@dataclass(frozen=True)
class HistoryView:
    """A kept version of an entry, decrypted (``text`` None when these keys cannot)."""

    revision: int
    text: str | None
    device_id: str
    replaced_at: datetime


@dataclass(frozen=True)
class PrivateTag:
    id: str
    index: str | None
    name: str | None
    color: str
    private: bool


PACKED, SINGLE = "packed", "single"
METRICS_FORMATS = (PACKED, SINGLE)


@dataclass
class DeviceSyncReport:
    tier: str
    entries: SyncReport | None
    metrics_uploaded: int


class Device:
    def __init__(self, api: AsyncReflectiveClient, store: LocalStore, keystore: KeyStore) -> None:
        self.api = api
        self.store = store
        self.keystore = keystore
        self._keys = keystore.load()

    @property
    def device_id(self) -> str:
        return self.store.device_id

    @property
    def keys(self) -> UserKeys:
        if self._keys is None:
            raise KeysMissing(
                "this profile has no keys: import them from another device "
                "(keys import FILE) or register a new account"
            )
        return self._keys

    @property
    def has_keys(self) -> bool:
        return self._keys is not None

    def _save_keys(self, keys: UserKeys) -> None:
        self.keystore.save(keys)
        self._keys = keys

    # --- account ----------------------------------------------------------------------------

    async def register(
        self, email: str, password: str, display_name: str | None = None
    ) -> UserProfile:
        """Create the account, sign in, and make keys if this profile has none."""
        profile = await self.api.register(email, password, display_name)
        await self.api.login(email, password)
        if self._keys is None:
            context = await self.api.encryption_context()
            self._save_keys(UserKeys.generate(context_parameters(context)))
        return profile

    async def login(self, email: str, password: str) -> UserProfile:
        """Sign in. Without keys, new ones are made only while the server holds nothing
        encrypted for the account (local_only); otherwise they must be imported."""
        await self.api.login(email, password)
        profile = await self.api.me()
        if self._keys is None:
            if profile.privacy_tier != "local_only":
                raise KeysMissing(
                    "signed in, but this profile has no keys and the account already has "
                    "encrypted data: run `keys import FILE` with a key file from your other device"
                )
            context = await self.api.encryption_context()
            self._save_keys(UserKeys.generate(context_parameters(context)))
        return profile

    async def logout(self) -> None:
        await self.api.logout()

    async def delete_account(self, password: str) -> None:
        await self.api.delete_account(password)

    # --- keys -------------------------------------------------------------------------------

    def export_keys(
        self, path: Path, passphrase: str, cost: envelope.KdfCost | None = None
    ) -> None:
        keyfile.export_keys(self.keys, path, passphrase, cost)

    def import_keys(self, path: Path, passphrase: str, *, replace: bool = False) -> UserKeys:
        keys = keyfile.read_keys(path, passphrase)
        keyfile.check_replaceable(self._keys, keys, replace)
        self._save_keys(keys)
        return keys

    # --- privacy tier -----------------------------------------------------------------------

    async def set_tier(self, tier: str, progress: Progress = _silent) -> PrivacyView:
        """Change tier. An upgrade sends the HE public key (when the server holds none yet)
        and uploads this device's metrics; full_sync then pushes every entry. A downgrade
        lets the server delete what the lower tier does not keep and forgets it locally."""
        if tier not in TIERS:
            raise ValueError(f"tier must be one of {', '.join(TIERS)}")
        current = (await self.api.privacy()).current_tier.value
        public_key = None
        if tier != "local_only":
            await self._ensure_he_keys()
            if current == "local_only":
                public_key = self.keys.he.public_key if self.keys.he else None
        try:
            privacy = await self.api.set_privacy(tier, public_key)
        except BadRequestError:
            if public_key is not None or tier == "local_only":
                raise
            # A server that wants the key on every upgrade: send ours.
            assert self.keys.he is not None
            privacy = await self.api.set_privacy(tier, self.keys.he.public_key)
        self._after_tier_change(current, tier)
        if tier != "local_only":
            await self.sync(progress)
        return privacy

    async def _ensure_he_keys(self) -> None:
        parameters = context_parameters(await self.api.encryption_context())
        keys = self.keys
        if keys.he is None or keys.he.parameters != parameters:
            # No metrics can exist under keys the server never had: safe to make new ones.
            self._save_keys(keys.with_new_he_keys(parameters))

    def _after_tier_change(self, previous: str, tier: str) -> None:
        store = self.store
        with store.transaction():
            store.set_meta("tier", tier)
            if _RANK[tier] < _RANK["full_sync"] <= _RANK[previous]:
                # The server deleted entries and conflicts: local copies are the only ones.
                for entry in store.entries(include_deleted=True):
                    if entry.deleted:
                        store.remove(entry.id)
                store.update_all(
                    "state = ?, conflict_id = NULL, base_revision = NULL", args=(CLEAN,)
                )
                store.drop_all_shadows()
                store.drop_all_resolutions()
                store.cursor = None
            if tier == "full_sync" and previous != "full_sync":
                # Everything goes up again; identical ciphertexts are no-ops on the server.
                store.update_all(
                    "state = ?, conflict_id = NULL, base_revision = NULL",
                    "deleted = 0",
                    (DIRTY,),
                )
                store.cursor = None
            if tier == "local_only":
                self._forget_metrics()

    def _forget_metrics(self) -> None:
        """The server's metrics are gone: this device's entries must be measured again."""
        self.store.clear_outbox()
        self.store.clear_packed(ledger=True)
        self.store.set_meta("packed_pending_ledger", None)
        self.store.update_all("metrics = ?", "origin = 'local'", (METRICS_PENDING,))
        self.store.set_meta("metrics_epoch", None)

    # --- entries (local) --------------------------------------------------------------------

    def write(self, text: str, entry_id: str | None = None) -> LocalEntry:
        """Create or edit an entry. It is encrypted here and stored encrypted; sync sends it."""
        sealed = self.keys.entries.seal_text(text)
        metrics = measure(text)
        moment = now()
        with self.store.transaction():
            existing = self.store.get(entry_id) if entry_id else None
            if entry_id and existing is None:
                raise NotFoundError(f"no entry {entry_id} on this device", 404)
            if existing is None:
                entry = LocalEntry(
                    id=str(uuid.uuid4()),
                    content=sealed.content,
                    iv=sealed.iv,
                    tag=sealed.tag,
                    created_at=moment,
                    updated_at=moment,
                    device_id=self.device_id,
                    word_count=metrics.word_count,
                    sentiment=metrics.sentiment,
                )
            else:
                entry = existing.changed(
                    content=sealed.content,
                    iv=sealed.iv,
                    tag=sealed.tag,
                    updated_at=moment,
                    device_id=self.device_id,
                    deleted=False,
                    state=DIRTY,
                    word_count=metrics.word_count,
                    sentiment=metrics.sentiment,
                    # The editing device uploads the new metrics; the server replaces the
                    # entry's old ones with them (by log_id), so sums follow the edit.
                    origin="local",
                    metrics=METRICS_PENDING,
                )
            self.store.save(entry)
        return entry

    def delete(self, entry_id: str) -> None:
        with self.store.transaction():
            entry = self.store.get(entry_id)
            if entry is None or entry.deleted:
                raise NotFoundError(f"no entry {entry_id} on this device", 404)
            if entry.metrics in (METRICS_QUEUED, METRICS_UPLOADED):
                # A synced entry's tombstone retracts its metrics on the server; without
                # entry sync (analytics_sync) the next sync retracts them explicitly.
                self._queue_retraction(entry_id)
            if entry.base_revision is None and entry.state != CONFLICT:
                self.store.remove(entry_id)  # the server never had it
            else:
                self.store.save(
                    entry.changed(
                        deleted=True, content=None, iv=None, tag=None, state=DIRTY, updated_at=now()
                    )
                )

    def _text(self, entry: LocalEntry) -> str | None:
        if entry.content is None or entry.iv is None:
            return None
        try:
            return self.keys.entries.open_text(entry.content, entry.iv, entry.tag)
        except (DecryptionError, UnicodeDecodeError):
            return None

    def entries(self) -> list[JournalEntry]:
        """Decrypted, newest first."""
        return [
            JournalEntry(
                e.id,
                self._text(e),
                e.created_at,
                e.updated_at,
                e.device_id,
                e.state,
                e.word_count,
                e.sentiment,
            )
            for e in self.store.entries()
        ]

    def entry(self, entry_id: str) -> JournalEntry | None:
        return next((e for e in self.entries() if e.id == entry_id), None)

    # --- sync -------------------------------------------------------------------------------

    def engine(self) -> SyncEngine:
        return SyncEngine(self.api, self.store, self.keys)

    async def sync(self, progress: Progress = _silent) -> DeviceSyncReport:
        """Entries (full_sync) and this device's metrics (analytics_sync and up)."""
        privacy = await self.api.privacy()
        tier = privacy.current_tier.value
        previous = self.store.get_meta("tier")
        if previous in _RANK and previous != tier:
            # Another device changed the tier since this one last synced: the server has
            # already deleted what the new tier does not keep; catch up locally.
            self._after_tier_change(previous, tier)
        self.store.set_meta("tier", tier)
        entries = await self.engine().sync(progress) if tier == "full_sync" else None
        uploaded = 0
        if tier != "local_only":
            epoch = format_time(privacy.sync_enabled_at) if privacy.sync_enabled_at else ""
            if self.store.get_meta("metrics_epoch") != epoch:
                # Analytics were (re-)enabled since this device last uploaded: the server's
                # metrics are new, so this device's entries are measured into them again.
                with self.store.transaction():
                    self._forget_metrics()
                    self.store.set_meta("metrics_epoch", epoch)
            if self.metrics_format == PACKED:
                uploaded = await PackedUploader(self.api, self.store, self.keys).flush(progress)
            else:
                uploader = MetricUploader(self.api, self.store, self.keys)
                uploader.queue(progress)
                uploaded = await uploader.flush(progress)
            await self._send_retractions()
        return DeviceSyncReport(tier, entries, uploaded)

    async def watch(
        self, progress: Progress = _silent, *, reconnect_delay: float = 1.0
    ) -> AsyncIterator[DeviceSyncReport]:
        """Sync whenever the account changes: once as soon as the change stream is open,
        then after every change it announces (and after a resync), yielding each report.
        When the stream ends (a server restart, a dropped connection) it reconnects after
        ``reconnect_delay`` seconds and syncs again, so nothing in between is missed. Runs
        until the caller stops iterating (or the task is cancelled)."""
        while True:
            try:
                async for event in self.api.events():
                    if event.kind in ("subscribed", "changes", "resync"):
                        yield await self.sync(progress)
            except TransportError:
                pass  # the server is away: try again shortly
            await asyncio.sleep(reconnect_delay)

    def _queue_retraction(self, entry_id: str) -> None:
        pending = json.loads(self.store.get_meta("metric_retractions") or "[]")
        if entry_id not in pending:
            pending.append(entry_id)
        self.store.set_meta("metric_retractions", json.dumps(pending))

    async def _send_retractions(self) -> None:
        """Retract the metrics of entries deleted here (idempotent: resent after a lost
        answer, it removes nothing more)."""
        pending = json.loads(self.store.get_meta("metric_retractions") or "[]")
        for entry_id in list(pending):
            await self.api.retract_metrics(entry_id)
            pending.remove(entry_id)
            self.store.set_meta("metric_retractions", json.dumps(pending))

    async def rebuild_metrics(self, progress: Progress = _silent) -> int:
        """Make the server's metrics describe the entries as they are now, from scratch.

        Not needed for edits and deletions: an edit re-uploads the entry's metrics, which
        replace the old ones on the server, and a deletion retracts them. This remains for
        repairing a store: on full_sync every device holds every entry, so one device can
        start over: pull, delete all metrics, upload every live entry's current metrics.
        Returns how many metrics were uploaded.
        """
        privacy = await self.api.privacy()
        if privacy.current_tier != "full_sync":
            raise TierError(
                "rebuilding metrics needs full_sync: on analytics_sync each device holds "
                "only its own entries",
                403,
            )
        await self.engine().sync()
        if self.metrics_format == PACKED:
            return await self._rebuild_packed(progress)
        await self.api.delete_all_metrics()
        with self.store.transaction():
            self.store.clear_outbox()
            self.store.update_all("metrics = ?", "deleted = 0", (METRICS_PENDING,))
        uploader = MetricUploader(self.api, self.store, self.keys)
        uploader.queue(progress, any_origin=True)
        return await uploader.flush(progress)

    async def _rebuild_packed(self, progress: Progress) -> int:
        """Packed years repaired in place: what the server holds is decrypted and the
        difference to every live entry's metrics is uploaded as one correction (other
        devices' ledgers stay valid: their shares are untouched). Returns how many packed
        ciphertexts were added."""
        if self.store.with_state(CONFLICT):
            raise ReflectiveError("resolve the open conflicts before rebuilding metrics")
        uploader = PackedUploader(self.api, self.store, self.keys)
        await uploader.flush(progress)  # this device's own changes first
        years = PackedYears(self.api, self.keys.ckks)
        return await uploader.correct(years, progress)

    async def conflicts(self) -> list[ConflictView]:
        views = []
        for c in await self.api.conflicts():
            local, remote = c.local_version, c.remote_version
            views.append(
                ConflictView(
                    id=str(c.id),
                    log_id=str(c.log_id),
                    local_text=self._open(local.encrypted_content, local.iv, local.tag),
                    local_device=local.device_id,
                    local_updated_at=local.updated_at,
                    remote_text=None
                    if remote is None
                    else self._open(remote.encrypted_content, remote.iv, remote.tag),
                    remote_device=None if remote is None else remote.device_id,
                    remote_updated_at=None if remote is None else remote.updated_at,
                    detected_at=c.detected_at,
                )
            )
        return views

    async def history(self, entry_id: str) -> list[HistoryView]:
        """The server's kept versions of an entry, newest first, decrypted here."""
        views: list[HistoryView] = []
        cursor: str | None = None
        while True:
            page = await self.api.revisions(entry_id, cursor)
            views += [
                HistoryView(
                    r.revision,
                    self._open(r.encrypted_content, r.content_iv, r.content_tag),
                    r.device_id,
                    r.replaced_at,
                )
                for r in page.revisions
            ]
            if not page.has_more or page.next_cursor is None:
                return views
            cursor = page.next_cursor

    async def restore(self, entry_id: str, revision: int) -> LocalEntry:
        """Bring a kept version back as an ordinary edit: decrypted here, encrypted again (a
        fresh IV) and stored as the entry's next version; the next sync uploads it with
        ``base_revision``, so it is decided like any edit (a conflict if another device
        wrote since this one last synced)."""
        found = next((v for v in await self.history(entry_id) if v.revision == revision), None)
        if found is None:
            raise NotFoundError(f"the server keeps no revision {revision} of {entry_id}", 404)
        if found.text is None:
            raise DecryptionError(f"revision {revision} does not open with this device's keys")
        return self.write(found.text, entry_id)

    def _open(self, content: bytes, iv: bytes, tag: bytes | None) -> str | None:
        try:
            return self.keys.entries.open_text(content, iv, tag)
        except (DecryptionError, UnicodeDecodeError):
            return None

    async def resolve(
        self, conflict_id: str, choice: str, merged_text: str | None = None
    ) -> SyncReport:
        conflict = next((c for c in await self.api.conflicts() if str(c.id) == conflict_id), None)
        if conflict is None:
            raise NotFoundError(f"no open conflict {conflict_id}", 404)
        return await self.engine().resolve(conflict, choice, merged_text)

    # --- statistics -------------------------------------------------------------------------

    async def stats(self, weeks: int = 6, today: date | None = None) -> Stats:
        """Overall sums and averages, and the last ``weeks`` weeks up to ``today`` (UTC),
        from the metrics of this device's format."""
        reader = PackedStatsReader if self.metrics_format == PACKED else StatsReader
        return await reader(self.api, self.keys.ckks).read(weeks, today)

    @property
    def metrics_format(self) -> str:
        """``packed`` (the default: a year per ciphertext) or ``single`` (a value per
        ciphertext, the web client's format)."""
        return self.store.get_meta("metrics_format") or PACKED

    def set_metrics_format(self, value: str) -> None:
        """Switch formats. Stats read the new format's metrics, which the next sync brings
        up to date from this device's entries; the other format's stay on the server until
        deleted. The packed ledger is kept, so switching back sends only what changed;
        single values are uploaded again, replacing the server's by entry (``log_id``)."""
        if value not in METRICS_FORMATS:
            raise ValueError(f"metrics format must be one of {', '.join(METRICS_FORMATS)}")
        with self.store.transaction():
            if value == SINGLE and self.metrics_format != SINGLE:
                self.store.clear_outbox()
                self.store.update_all("metrics = ?", "origin = 'local'", (METRICS_PENDING,))
            self.store.set_meta("metrics_format", value)

    # --- tags -------------------------------------------------------------------------------

    async def add_tag(self, name: str, color: str | None = None) -> PrivateTag:
        names = self.keys.tags
        index = names.index(name)
        self.store.remember_tag(index, name)
        for tag in await self.tags():
            if tag.index == index:
                return tag  # the same name, sealed with another case or on another device
        created = await self.api.create_tag(names.server_name(name), color)
        return self._private(created.tag)

    async def tags(self) -> list[PrivateTag]:
        """The user's tags, names decrypted; one per blind index (the oldest)."""
        seen: set[str] = set()
        tags = []
        for tag in sorted(await self.api.tags(), key=lambda t: (t.created_at, t.id)):
            private = self._private(tag)
            if private.index is not None:
                if private.index in seen:
                    continue
                seen.add(private.index)
            tags.append(private)
        return sorted(tags, key=lambda t: (t.name or "").casefold())

    def _private(self, tag: TagView) -> PrivateTag:
        read = self.keys.tags.read(tag.name)
        name = read.display_name
        if name is None and read.index is not None:
            name = self.store.tag_name(read.index)
        elif name is not None and read.index is not None:
            self.store.remember_tag(read.index, name)
        return PrivateTag(str(tag.id), read.index, name, tag.color, read.private)

    # --- export -----------------------------------------------------------------------------

    async def export_data(self, path: Path, *, include_server: bool = True) -> dict[str, Any]:
        """Everything, readable: decrypted entries from this device, plus (when signed in)
        the server's copy of the account as it stores it (ciphertexts). Written 0600."""
        document: dict[str, Any] = {
            "format": "reflective-client-export",
            "version": 1,
            "exported_at": format_time(now()),
            "device_id": self.device_id,
            "key_id": self.keys.key_id,
            "entries": [
                {
                    "id": e.id,
                    "text": e.text,
                    "created_at": format_time(e.created_at),
                    "updated_at": format_time(e.updated_at),
                    "word_count": e.word_count,
                    "sentiment_score": e.sentiment,
                    "sync_state": e.state,
                }
                for e in self.entries()
            ],
        }
        if include_server:
            document["server"] = msgspec.to_builtins(await self.api.export())
        write_private(path, json.dumps(document, indent=2).encode())
        return document
