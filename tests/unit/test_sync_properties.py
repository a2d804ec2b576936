"""Property: for any interleaving of devices, skewed clocks and retried uploads, no uploaded
version disappears unless a device that had it superseded it, or the user chose it away; and
a device pulling by cursor sees every change exactly once, tombstones included.

With revision history: a version that was ever an entry's current one is only ever lost by
the user's choice (deleting the entry's history) or by the retention rule (more than
``KEEP`` newer versions of the entry replaced after it, or replaced more than ``DAYS`` ago),
never by any interleaving of writes, deletes and resolutions."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from reflective_adapters.memory import MemoryStore, MemoryUnitOfWork
from reflective_app.settings import Settings
from reflective_domain.entries import (
    Conflict,
    EntryVersion,
    Outcome,
    Resolution,
    Upload,
    stored_size,
)
from reflective_domain.errors import EntryConflict, NotFound, StaleResolution
from reflective_domain.tiers import PrivacyTier
from reflective_domain.use_cases.conflicts import MergedVersion
from tests.composition import memory_container, new_user

UTC = timezone.utc
DEVICES = ("phone", "laptop", "tablet")
ENTRIES = tuple(uuid.UUID(int=100 + n) for n in range(3))
# Small enough that a run meets both retention rules (time passes up to 10 hours a step).
KEEP, DAYS = 3, 1


@dataclass
class Device:
    name: str
    clock_skew: timedelta
    cursor: int = 0
    seen: set[bytes] = field(default_factory=set)  # fingerprints this device has had
    known_revision: dict[uuid.UUID, int] = field(default_factory=dict)
    sent: list[Upload] = field(default_factory=list)  # for retries
    delivered: set[tuple[uuid.UUID, int]] = field(default_factory=set)
    # Conflicts as last shown: id -> (local, remote fingerprint, remote revision, generation).
    shown: dict[uuid.UUID, tuple[bytes, bytes | None, int, int]] = field(default_factory=dict)


class SyncMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        store = MemoryStore()
        self.store = store
        retention = Settings(
            data_dir=Path("unused"), revision_history_max=KEEP, revision_history_days=DAYS
        )
        self.svc = memory_container(lambda: MemoryUnitOfWork(store), retention)
        self.clock = self.svc.clock()
        self.user = self.run(new_user(self.svc, tier=PrivacyTier.FULL_SYNC))
        self.devices = {
            name: Device(name, timedelta(minutes=skew))
            for name, skew in zip(DEVICES, (-90, 0, 240), strict=True)
        }
        self.counter = 0
        # Versions the server must still hold: fingerprint -> entry id.
        self.must_keep: dict[bytes, uuid.UUID] = {}
        self.accepted: dict[uuid.UUID, set[bytes]] = {e: set() for e in ENTRIES}
        # What the last listing (on any device) showed of each conflict: local and remote.
        self.last_listed: dict[uuid.UUID, tuple[bytes, bytes | None]] = {}
        # Each entry's current version as last seen, and the versions replaced since the
        # user last deleted its history: (fingerprint, replaced at), oldest first.
        self.current: dict[uuid.UUID, bytes | None] = dict.fromkeys(ENTRIES)
        self.replaced: dict[uuid.UUID, list[tuple[bytes, datetime]]] = {e: [] for e in ENTRIES}

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.loop.close()

    # --- what the server holds -------------------------------------------------------------
    def server_versions(self) -> dict[bytes, uuid.UUID]:
        held: dict[bytes, uuid.UUID] = {}
        for entry_id in ENTRIES:
            entry = self.run(self._get(entry_id))
            if entry is not None and entry.version is not None:
                held[entry.version.fingerprint] = entry_id
        for conflict in self.open_conflicts():
            held[conflict.local.fingerprint] = conflict.entry_id
        return held

    def open_conflicts(self) -> list[Conflict]:
        """Read from the store: listing conflicts shows (and so confirms) them."""
        tables = self.store.tables
        return [c for c in tables.conflicts.values() if c.user_id == self.user and c.is_open]

    async def _get(self, entry_id: uuid.UUID):  # type: ignore[no-untyped-def]
        async with self.svc.uow_factory()() as uow:
            return await uow.entries.get(self.user, entry_id)

    def history(self, entry_id: uuid.UUID) -> set[bytes]:
        """The entry's kept versions, as listed (none for an entry never written)."""
        try:
            page = self.run(self.svc.list_revisions()(self.user, entry_id, limit=500))
        except NotFound:
            return set()
        assert not page.has_more
        return {r.fingerprint for r in page.revisions}

    def observe(self) -> None:
        """After a write: a live version that is no longer current was replaced now."""
        for entry_id in ENTRIES:
            now = self.current_fingerprint(entry_id)
            before = self.current[entry_id]
            if before is not None and before != now:
                self.replaced[entry_id].append((before, self.clock.now()))
            self.current[entry_id] = now

    def current_fingerprint(self, entry_id: uuid.UUID) -> bytes | None:
        entry = self.run(self._get(entry_id))
        return entry.version.fingerprint if entry is not None and entry.version else None

    # --- rules -------------------------------------------------------------------------------
    @rule(
        device=st.sampled_from(DEVICES), entry_id=st.sampled_from(ENTRIES), with_base=st.booleans()
    )
    def edit(self, device: str, entry_id: uuid.UUID, with_base: bool) -> None:
        d = self.devices[device]
        self.counter += 1
        moment = self.clock.now() + d.clock_skew
        v = EntryVersion(
            content=f"{device}-{self.counter}".encode(),
            iv=self.counter.to_bytes(12, "big"),
            tag=b"t" * 16,
            created_at=moment,
            updated_at=moment,
            device_id=device,
        )
        base = d.known_revision.get(entry_id) if with_base else None
        self.send(d, Upload(entry_id, v, base))

    @precondition(lambda self: any(d.sent for d in self.devices.values()))
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        d = data.draw(st.sampled_from([d for d in self.devices.values() if d.sent]))
        self.send(d, data.draw(st.sampled_from(d.sent)))

    def send(self, d: Device, up: Upload) -> None:
        fp = up.version.fingerprint
        try:
            pushed = self.run(self.svc.push_entry()(self.user, up))
        except EntryConflict:
            pushed = None
        held = self.server_versions()
        # Whatever vanished is fine only if this device had it (it superseded it knowingly).
        for gone in set(self.must_keep) - set(held):
            if gone in d.seen:
                del self.must_keep[gone]
        self.observe()
        d.sent.append(up)
        d.seen.add(fp)
        if pushed is not None and pushed.outcome is Outcome.UNCHANGED:
            assert fp in self.accepted[up.entry_id], "a new version was dropped as a retry"
            return
        if pushed is not None:
            self.accepted[up.entry_id].add(fp)
            d.known_revision[up.entry_id] = pushed.entry.revision
            assert held.get(fp) == up.entry_id, "an accepted version is not current"
        if fp in held:
            self.must_keep[fp] = up.entry_id

    def open_conflict(self, entry_id: uuid.UUID):  # type: ignore[no-untyped-def]
        for view in self.run(self.svc.list_conflicts()(self.user)).conflicts:
            if view.conflict.entry_id == entry_id:
                return view.conflict
        return None

    @rule(device=st.sampled_from(DEVICES), page=st.integers(1, 3))
    def pull(self, device: str, page: int) -> None:
        d = self.devices[device]
        while True:
            result = self.run(self.svc.pull_changes()(self.user, d.cursor, page, device))
            for entry in result.changes:
                key = (entry.id, entry.revision)
                assert key not in d.delivered, f"{device} was sent {key} twice"
                d.delivered.add(key)
                d.known_revision[entry.id] = entry.revision
                if entry.version is not None:
                    d.seen.add(entry.version.fingerprint)
            d.cursor = result.next_cursor
            if not result.has_more:
                break
        # Caught up: the device now knows the latest revision of every entry.
        for entry_id in ENTRIES:
            entry = self.run(self._get(entry_id))
            if entry is not None:
                assert (entry.id, entry.revision) in d.delivered

    @rule(device=st.sampled_from(DEVICES))
    def look_at_conflicts(self, device: str) -> None:
        """The user opens the conflict list on a device: what it shows is what they decide on."""
        d = self.devices[device]
        d.shown = {}
        for view in self.run(self.svc.list_conflicts()(self.user)).conflicts:
            remote = view.remote.version.fingerprint if view.remote.version else None
            d.shown[view.conflict.id] = (
                view.conflict.local.fingerprint,
                remote,
                view.remote.revision,
                view.conflict.generation,
            )
            self.last_listed[view.conflict.id] = (view.conflict.local.fingerprint, remote)
            d.seen.add(view.conflict.local.fingerprint)
            if remote is not None:
                d.seen.add(remote)

    @precondition(lambda self: any(d.shown for d in self.devices.values()))
    @rule(
        data=st.data(),
        choice=st.sampled_from([Resolution.LOCAL, Resolution.REMOTE, Resolution.MERGED]),
        says_revision=st.booleans(),
    )
    def resolve(self, data: st.DataObject, choice: Resolution, says_revision: bool) -> None:
        """Resolve a conflict as it was shown, maybe after other devices wrote meanwhile."""
        d = data.draw(st.sampled_from([d for d in self.devices.values() if d.shown]))
        conflict_id = data.draw(st.sampled_from(sorted(d.shown)))
        local_fp, remote_fp, remote_revision, generation = d.shown.pop(conflict_id)
        self.counter += 1
        merged = (
            MergedVersion(f"merged-{self.counter}".encode(), self.counter.to_bytes(12, "big"))
            if choice is Resolution.MERGED
            else None
        )
        if not says_revision:
            # A client that does not say what it was shown (the web client) decides on the
            # conflict as it was last listed, on any device: listing is showing. Only those
            # sides may go; anything newer must make the server refuse.
            local_fp, remote_fp = self.last_listed[conflict_id]
        try:
            entry = self.run(
                self.svc.resolve_conflict()(
                    self.user,
                    conflict_id,
                    choice,
                    merged,
                    d.name,
                    remote_revision if says_revision else None,
                    generation if says_revision else None,
                )
            )
        except (NotFound, StaleResolution):
            return  # resolved elsewhere already, or changed since it was shown
        self.observe()
        # The user chose between the two versions shown: either may go, nothing else.
        for fp in (local_fp, remote_fp):
            if fp is not None:
                self.must_keep.pop(fp, None)
        if entry.version is not None:
            self.must_keep[entry.version.fingerprint] = entry.id
            self.accepted[entry.id].add(entry.version.fingerprint)
            d.seen.add(entry.version.fingerprint)
            d.known_revision[entry.id] = entry.revision

    @rule(device=st.sampled_from(DEVICES), entry_id=st.sampled_from(ENTRIES))
    def delete(self, device: str, entry_id: uuid.UUID) -> None:
        before = self.current_fingerprint(entry_id)
        try:
            self.run(self.svc.delete_entry()(self.user, entry_id, device))
        except NotFound:
            return
        self.observe()
        if before is not None:
            self.must_keep.pop(before, None)  # the user deleted it (it is kept as history)

    @rule(entry_id=st.sampled_from(ENTRIES))
    def delete_history(self, entry_id: uuid.UUID) -> None:
        """The user deletes an entry's kept versions: those may go, nothing else."""
        try:
            self.run(self.svc.delete_revisions()(self.user, entry_id))
        except NotFound:
            return
        self.replaced[entry_id] = []
        assert self.history(entry_id) == set()

    @rule(minutes=st.integers(0, 600))
    def time_passes(self, minutes: int) -> None:
        self.clock.advance(minutes=minutes)

    @invariant()
    def no_version_is_lost(self) -> None:
        held = self.server_versions()
        missing = set(self.must_keep) - set(held)
        assert not missing, f"lost {len(missing)} version(s)"

    @invariant()
    def a_replaced_version_is_lost_only_by_retention(self) -> None:
        """Every replaced version that retention still protects (fewer than KEEP replaced
        after it, replaced within DAYS) is in its entry's history; and history holds only
        versions that were the entry's current one."""
        cutoff = self.clock.now() - timedelta(days=DAYS)
        for entry_id in ENTRIES:
            replaced = self.replaced[entry_id]
            protected = {fp for fp, at in replaced[len(replaced) - KEEP :] if at >= cutoff}
            kept = self.history(entry_id)
            missing = protected - kept
            assert not missing, f"lost {len(missing)} replaced version(s) of {entry_id}"
            assert kept <= {fp for fp, _ in replaced}, "history holds a version never current"
            assert len(kept) <= KEEP

    @invariant()
    def the_quota_counter_is_the_real_sum(self) -> None:
        """Every write, delete, conflict and resolution keeps the O(1) byte counter equal to
        what is really stored: each entry row and each conflict row, with their ciphertexts,
        and each kept version."""
        tables = self.store.tables
        real = sum(
            stored_size(e.version) for (uid, _), e in tables.entries.items() if uid == self.user
        )
        real += sum(
            stored_size(c.local) for c in tables.conflicts.values() if c.user_id == self.user
        )
        real += sum(r.size for (uid, _, _), r in tables.history.items() if uid == self.user)
        assert tables.stored_bytes[self.user] == real

    @invariant()
    def at_most_one_open_conflict_per_entry(self) -> None:
        entries = [c.entry_id for c in self.open_conflicts()]
        assert len(entries) == len(set(entries))


# Races between looking at a conflict and resolving it take several precise steps: search more.
SyncMachine.TestCase.settings = settings(
    max_examples=settings.default.max_examples * 2, stateful_step_count=60, deadline=None
)
TestSync = SyncMachine.TestCase
