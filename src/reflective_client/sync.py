"""The sync engine: push local changes, pull the change feed, surface and resolve conflicts.

Rules (the server's, seen from the device; docs/DESIGN.md, "Versioned entries and conflicts"):

- A local write is stored **encrypted first**, then sent with ``base_revision`` (the server
  revision it was edited from). Resending the same ciphertext and IV is a no-op on the
  server, so an interrupted push is simply repeated: nothing is duplicated or lost.
- A pull applies a page of changes and moves the cursor in one local transaction. A clean
  local entry mirrors the server (a newer version replaces it, a tombstone removes it); an
  unpushed local version is never overwritten: the server's version is kept beside it (a
  "shadow") until the push settles it. Editing beats deleting, as on the server.
- A 409 leaves the entry in ``conflict``; the user resolves with local, remote or merged.
  A merged version is stored before it is sent, so a lost answer is recovered on the next
  sync.
- An unknown cursor (410) restarts the pull from the beginning; applying is idempotent.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from reflective_client.analysis import measure
from reflective_client.crypto.keys import UserKeys
from reflective_client.errors import (
    ConflictError,
    DecryptionError,
    NotFoundError,
    PayloadTooLargeError,
    ResyncRequired,
    StaleResolutionError,
    ValidationError,
)
from reflective_client.http import AsyncReflectiveClient
from reflective_client.models import EncryptedEntry, conflict_version, stored_entry
from reflective_client.store import (
    CLEAN,
    CONFLICT,
    DIRTY,
    METRICS_NOT_MINE,
    METRICS_PENDING,
    LocalEntry,
    LocalStore,
)
from reflective_client.uploads import Progress, _silent
from reflective_client.wire import now
from reflective_protocol.errors import ErrorCode
from reflective_protocol.sync import ChangeView, ConflictItem

CHOICES = ("local", "remote", "merged")
PUSH_TASK = "Pushing entries"
BATCH_ITEMS = 200
BATCH_BYTES = 4 * 1024 * 1024
"""A batch's ciphertext bytes: as base64 with its JSON, well under the server's cap."""


def _batches(entries: list[LocalEntry]) -> list[list[LocalEntry]]:
    """Consecutive batches of at most BATCH_ITEMS entries and about BATCH_BYTES."""
    batches: list[list[LocalEntry]] = []
    size = 0
    for entry in entries:
        weight = len(entry.content or b"")  # a deletion carries none
        if not batches or len(batches[-1]) >= BATCH_ITEMS or size + weight > BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(entry)
        size += weight
    return batches


@dataclass
class SyncReport:
    pushed: int = 0
    deleted: int = 0
    pulled: int = 0
    tombstones: int = 0
    resolutions: int = 0
    conflicts: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    """Entries the server refused (too large, invalid), by id: they stay unpushed."""
    open_conflicts: list[str] = field(default_factory=list)


class SyncEngine:
    def __init__(
        self, api: AsyncReflectiveClient, store: LocalStore, keys: UserKeys, page_size: int = 100
    ) -> None:
        self.api = api
        self.store = store
        self.keys = keys
        self.page_size = page_size

    @property
    def device_id(self) -> str:
        return self.store.device_id

    async def sync(self, progress: Progress = _silent) -> SyncReport:
        """Resolutions waiting to be sent, pull, settle conflicts closed elsewhere, push,
        classify new conflicts, pull again (picking up what the pushes settled)."""
        report = SyncReport()
        await self.send_resolutions(report)
        await self.pull(report)
        if self.store.with_state(CONFLICT):
            await self.refresh_conflicts(report)
        await self.push(report, progress)
        if report.conflicts:
            await self.refresh_conflicts(report)
        await self.pull(report)
        return report

    # --- pull -----------------------------------------------------------------------------

    async def pull(self, report: SyncReport | None = None) -> SyncReport:
        report = report or SyncReport()
        restarted = False
        while True:
            try:
                page = await self.api.changes(self.store.cursor, self.device_id, self.page_size)
            except ResyncRequired:
                if restarted or self.store.cursor is None:
                    raise
                restarted = True
                self.store.cursor = None
                continue
            with self.store.transaction():
                for change in page.changes:
                    self._apply(change, report)
                self.store.cursor = page.next_cursor
            if not page.has_more:
                return report

    def _apply(self, change: ChangeView, report: SyncReport) -> None:
        store, local = self.store, self.store.get(str(change.id))
        remote = None if change.deleted else stored_entry(change)
        if remote is None:  # a tombstone
            if local is None:
                return
            if local.state == CLEAN or local.deleted:
                store.remove(local.id)
                report.tombstones += 1
            else:  # an unpushed edit: it will bring the entry back (editing beats deleting)
                store.put_shadow(local.id, change.revision, None)
            return
        if local is None:
            store.save(self._adopted(None, remote, change.revision))
            report.pulled += 1
            return
        if local.state == CLEAN:
            if local.same_version(remote):
                store.save(_settled(local, remote, change.revision))
            else:
                store.save(self._adopted(local, remote, change.revision))
                report.pulled += 1
            return
        if local.deleted and change.revision > (local.base_revision or 0):
            # Someone edited what this device deleted: the edit wins, as on the server.
            store.save(self._adopted(local, remote, change.revision))
            report.pulled += 1
            return
        if local.same_version(remote):  # an earlier push landed though its answer was lost
            store.save(_settled(local, remote, change.revision))
            return
        store.put_shadow(local.id, change.revision, remote)

    def _adopted(
        self, local: LocalEntry | None, remote: EncryptedEntry, revision: int | None
    ) -> LocalEntry:
        """The server's version as the local one, measured on the device."""
        self.store.drop_shadow(remote.id)
        try:
            metrics = measure(self.keys.entries.open_text(remote.content, remote.iv, remote.tag))
            word_count, sentiment = metrics.word_count, metrics.sentiment
        except (DecryptionError, UnicodeDecodeError):
            word_count, sentiment = None, None  # shown as undecryptable, never guessed
        return LocalEntry(
            id=remote.id,
            content=remote.content,
            iv=remote.iv,
            tag=remote.tag,
            created_at=remote.created_at,
            updated_at=remote.updated_at,
            device_id=remote.device_id,
            deleted=False,
            base_revision=revision,
            state=CLEAN,
            conflict_id=None,
            origin="remote" if local is None else local.origin,
            word_count=word_count,
            sentiment=sentiment,
            metrics=METRICS_NOT_MINE if local is None else local.metrics,
        )

    # --- push -----------------------------------------------------------------------------

    async def push(
        self, report: SyncReport | None = None, progress: Progress = _silent
    ) -> SyncReport:
        """Deletions one by one, writes in batches (``POST /sync/batch``: one request and
        one server transaction per batch); ``progress`` counts entries."""
        report = report or SyncReport()
        dirty = self.store.with_state(DIRTY)
        done, total = 0, len(dirty)
        progress(PUSH_TASK, done, total)
        writes = []
        for entry in dirty:
            if entry.deleted:
                await self._push_delete(entry, report)
                done += 1
                progress(PUSH_TASK, done, total)
            else:
                writes.append(entry)
        for chunk in _batches(writes):
            await self._push_batch(chunk, report)
            done += len(chunk)
            progress(PUSH_TASK, done, total)
        return report

    async def _push_batch(self, chunk: list[LocalEntry], report: SyncReport) -> None:
        if len(chunk) == 1:
            await self._push_write(chunk[0], report)
            return
        try:
            results = await self.api.upload_batch([(e.encrypted(), e.base_revision) for e in chunk])
        except (ValidationError, PayloadTooLargeError, NotFoundError):
            # One bad item refuses the whole batch (and a server without batches answers
            # 404): one by one instead, so that each entry gets its own answer.
            for entry in chunk:
                await self._push_write(entry, report)
            return
        for entry, item in zip(chunk, results, strict=True):
            if item.outcome in ("created", "accepted") and item.revision is not None:
                self._settle_ours(entry, item.revision)
                report.pushed += 1
            elif item.outcome == "conflict" and item.conflict_id is not None:
                self._mark_conflict(entry, str(item.conflict_id), report)
            else:  # unchanged (a retry): the single upload says whose version is current
                await self._push_write(entry, report)

    async def _push_delete(self, entry: LocalEntry, report: SyncReport) -> None:
        # 404: already gone (or deleted by a retry whose answer was lost).
        with contextlib.suppress(NotFoundError):
            await self.api.delete_backup(entry.id, self.device_id)
        with self.store.transaction():
            current = self.store.get(entry.id)
            if current is not None and current.deleted:
                self.store.remove(entry.id)
        report.deleted += 1

    async def _push_write(self, entry: LocalEntry, report: SyncReport) -> None:
        try:
            stored = await self.api.upload_backup(entry.encrypted(), entry.base_revision)
        except ConflictError as exc:
            self._mark_conflict(entry, exc.conflict_id, report)
            return
        except ValidationError as exc:
            if entry.base_revision is not None and exc.code is ErrorCode.BASE_REVISION_AHEAD:
                # The server's entry restarted below the revision this edit came from (its
                # cloud copy was deleted by a downgrade and uploaded again since): the base
                # means nothing there any more; let the server decide by what it sent us.
                with self.store.transaction():
                    self.store.save(entry.changed(base_revision=None))
                await self._push_write(entry.changed(base_revision=None), report)
                return
            report.rejected[entry.id] = exc.message
            return
        except PayloadTooLargeError as exc:
            report.rejected[entry.id] = exc.message
            return
        ours_is_current = (
            stored.device_id == self.device_id and stored.updated_at == entry.updated_at
        )
        if ours_is_current and stored.revision is not None:
            self._settle_ours(entry, stored.revision)
            report.pushed += 1
            return
        with self.store.transaction():
            current = self.store.get(entry.id)
            if current is None:
                return
            edited_meanwhile = not current.same_version(entry.encrypted())
            if ours_is_current:
                self.store.drop_shadow(entry.id)
                self.store.save(
                    current.changed(
                        base_revision=stored.revision,
                        state=DIRTY if edited_meanwhile else CLEAN,
                        conflict_id=None,
                    )
                )
            elif not edited_meanwhile:
                # The server already had this exact version, and something newer on top.
                shadow = self.store.get_shadow(entry.id)
                if (
                    shadow is not None
                    and shadow.entry is not None
                    and shadow.revision == stored.revision
                ):
                    self.store.save(self._adopted(current, shadow.entry, shadow.revision))
                else:  # the next pull brings the current version; until then nothing is assumed
                    self.store.save(current.changed(state=CLEAN, base_revision=None))
        report.pushed += 1

    def _settle_ours(self, entry: LocalEntry, revision: int) -> None:
        """The server stored this version as ``revision``."""
        with self.store.transaction():
            current = self.store.get(entry.id)
            if current is None:
                return
            edited_meanwhile = not current.same_version(entry.encrypted())
            self.store.drop_shadow(entry.id)
            self.store.save(
                current.changed(
                    base_revision=revision,
                    state=DIRTY if edited_meanwhile else CLEAN,
                    conflict_id=None,
                )
            )

    def _mark_conflict(self, entry: LocalEntry, conflict_id: str, report: SyncReport) -> None:
        with self.store.transaction():
            current = self.store.get(entry.id)
            if current is not None and current.same_version(entry.encrypted()):
                self.store.save(current.changed(state=CONFLICT, conflict_id=conflict_id))
        report.conflicts.append(conflict_id)

    # --- conflicts ------------------------------------------------------------------------

    async def refresh_conflicts(self, report: SyncReport) -> list[ConflictItem]:
        """Match local conflict states with the server's open conflicts.

        A conflict that holds this device's version waits for the user. One that holds
        another device's upload (the server blocks further uploads of that entry until it is
        resolved) leaves the local version unpushed, to be sent again later. One resolved
        elsewhere hands the entry back to the server's version.
        """
        open_conflicts = await self.api.conflicts()
        by_id = {str(c.id): c for c in open_conflicts}
        with self.store.transaction():
            for entry in self.store.with_state(CONFLICT):
                conflict = by_id.get(entry.conflict_id or "")
                if conflict is not None and _holds(conflict, entry):
                    continue
                if conflict is not None:
                    self.store.save(entry.changed(state=DIRTY, conflict_id=None))
                    continue
                self._settle_closed(entry)
        report.open_conflicts = [str(c.id) for c in open_conflicts]
        return open_conflicts

    def _settle_closed(self, entry: LocalEntry) -> None:
        shadow = self.store.get_shadow(entry.id)
        if shadow is None:
            # The server's version was never seen here: pull everything again to find it.
            self.store.save(entry.changed(state=CLEAN, conflict_id=None, base_revision=None))
            self.store.cursor = None
        elif shadow.entry is None:
            self.store.remove(entry.id)
        else:
            self.store.save(self._adopted(entry, shadow.entry, shadow.revision))

    async def resolve(
        self, conflict: ConflictItem, choice: str, merged_text: str | None = None
    ) -> SyncReport:
        """Resolve ``conflict`` as the user chose (the server's terms: ``local`` is the
        upload that conflicted, ``remote`` the entry's current version), then pull."""
        if choice not in CHOICES:
            raise ValueError("choice must be local, remote or merged")
        if (choice == "merged") != (merged_text is not None):
            raise ValueError("a merged resolution needs the merged text, and only it")
        report = SyncReport()
        entry_id, conflict_id = str(conflict.log_id), str(conflict.id)
        local = self.store.get(entry_id)
        created_at = local.created_at if local is not None else now()
        if choice == "merged":
            assert merged_text is not None
            sealed = self.keys.entries.seal_text(merged_text)
            merged = EncryptedEntry(
                entry_id,
                sealed.content,
                sealed.iv,
                sealed.tag,
                created_at,
                now(),
                self.device_id,
            )
            with self.store.transaction():  # stored before it is sent
                self.store.put_resolution(conflict_id, merged, conflict.remote_revision)
            await self.send_resolutions(report)
        else:
            # 404: resolved already (perhaps by this very request, answer lost): pull decides.
            # A side changed since the listing: 409 (StaleResolutionError), nothing written.
            with contextlib.suppress(NotFoundError):
                await self.api.resolve_conflict(
                    conflict_id,
                    choice,
                    device_id=self.device_id,
                    remote_revision=conflict.remote_revision,
                    generation=conflict.generation,
                )
            chosen = conflict.local_version if choice == "local" else conflict.remote_version
            with self.store.transaction():
                if chosen is None:  # remote chosen, and the entry was deleted meanwhile
                    self.store.remove(entry_id)
                else:
                    version = conflict_version(conflict.log_id, chosen, created_at)
                    # remote: the current revision; local: a new one the pull will confirm.
                    revision = conflict.remote_revision if choice == "remote" else None
                    # The resolving device answers for the entry's metrics from now on.
                    self.store.save(
                        self._adopted(local, version, revision).changed(
                            origin="local", metrics=METRICS_PENDING
                        )
                    )
            report.resolutions += 1
        await self.pull(report)
        return report

    async def send_resolutions(self, report: SyncReport) -> None:
        """Send merged resolutions stored earlier (including ones interrupted last time)."""
        for conflict_id, (merged, base_revision) in self.store.resolutions().items():
            try:
                ack = await self.api.resolve_conflict(
                    conflict_id,
                    "merged",
                    merged,
                    device_id=self.device_id,
                    remote_revision=base_revision,
                )
            except (NotFoundError, StaleResolutionError):
                # Resolved already (by this device, answer lost, or another), or the entry
                # moved on since the merge was made. Keep the merged text as an edit of the
                # version it was merged against; if the server moved on, that surfaces as a
                # new conflict rather than losing either side.
                with self.store.transaction():
                    self._keep_as_edit(merged, base_revision)
                    self.store.drop_resolution(conflict_id)
                continue
            revision = ack.details.get("revision")
            with self.store.transaction():
                local = self.store.get(merged.id)
                self.store.save(
                    self._merged_local(local, merged, int(revision) if revision else None)
                )
                self.store.drop_shadow(merged.id)
                self.store.drop_resolution(conflict_id)
            report.resolutions += 1

    def _keep_as_edit(self, merged: EncryptedEntry, base_revision: int | None) -> None:
        local = self.store.get(merged.id)
        entry = self._merged_local(local, merged, base_revision)
        self.store.save(entry.changed(state=DIRTY))

    def _merged_local(
        self, local: LocalEntry | None, merged: EncryptedEntry, revision: int | None
    ) -> LocalEntry:
        text = self.keys.entries.open_text(merged.content, merged.iv, merged.tag)
        metrics = measure(text)
        return LocalEntry(
            id=merged.id,
            content=merged.content,
            iv=merged.iv,
            tag=merged.tag,
            created_at=merged.created_at,
            updated_at=merged.updated_at,
            device_id=merged.device_id,
            base_revision=revision,
            state=CLEAN,
            origin="local",
            word_count=metrics.word_count,
            sentiment=metrics.sentiment,
            # Merged here: this device uploads the merged text's metrics, which replace the
            # entry's earlier ones on the server.
            metrics=METRICS_PENDING,
        )


def _holds(conflict: ConflictItem, entry: LocalEntry) -> bool:
    """The conflict keeps this very version (not another device's upload)."""
    return (
        str(conflict.log_id) == entry.id
        and conflict.local_version.encrypted_content == entry.content
        and conflict.local_version.iv == entry.iv
    )


def _settled(local: LocalEntry, remote: EncryptedEntry, revision: int) -> LocalEntry:
    """The local version is the server's at ``revision``: take the server's metadata."""
    return local.changed(
        state=CLEAN,
        conflict_id=None,
        base_revision=revision,
        created_at=remote.created_at,
        updated_at=remote.updated_at,
        device_id=remote.device_id,
    )
