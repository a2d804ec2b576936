"""Encrypted entry sync (full_sync tier; others get 403): upload, listing, change feed,
deletion, conflicts, revision history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter

from reflective_app.body_limits import ENTRY_BODY
from reflective_app.dto.common import as_utc, require_offset
from reflective_app.dto.sync import (
    backup_view,
    change_view,
    conflict_item,
    merged_version,
    resolution,
    revision_view,
    upload,
)
from reflective_app.injected import Caller
from reflective_app.openapi import BEARER_AUTH, documented
from reflective_app.parameters import (
    CURSOR_PATTERN,
    ConflictId,
    DeviceId,
    EntryId,
    Offset,
    PageLimit,
    cursor_position,
)
from reflective_domain.entries import Outcome
from reflective_domain.errors import ResyncRequired, ValidationFailed
from reflective_domain.use_cases.batch import MAX_BATCH, PushBatch
from reflective_domain.use_cases.conflicts import GetConflict, ListConflicts, ResolveConflict
from reflective_domain.use_cases.metrics import DeleteAllMetrics
from reflective_domain.use_cases.sync import (
    DEFAULT_PAGE,
    DeleteAllEntries,
    DeleteEntry,
    DeleteRevisions,
    ListBackups,
    ListRevisions,
    PullChanges,
    PushEntry,
)
from reflective_protocol.common import Message
from reflective_protocol.errors import ErrorCode
from reflective_protocol.sync import (
    BackupList,
    BackupStored,
    BackupUpload,
    BatchItem,
    BatchStored,
    BatchUpload,
    ChangeList,
    ConflictItem,
    ConflictList,
    DeletedBackups,
    DeletedMetrics,
    ResolveRequest,
    RevisionList,
)

_STORED_MESSAGES = {
    Outcome.CREATED: "Backup created",
    Outcome.ACCEPTED: "Backup updated",
    Outcome.UNCHANGED: "Backup already up to date",
}
# A batch's byte cap (413 beyond): room for MAX_BATCH entries of 32 KiB of ciphertext each, as
# base64 with their JSON, which is far above a journal entry's usual size.
BATCH_BODY_LIMIT = MAX_BATCH * 48 * 1024


class SyncController(Controller):
    path = "/api/sync"
    tags = ["sync"]
    security = BEARER_AUTH

    @post(
        "/backup",
        status_code=201,
        operation_id="upload_backup",
        **documented(
            "Upload one encrypted entry",
            ErrorCode.FORBIDDEN_BY_TIER,
            ErrorCode.ENTRY_CONFLICT,
            ErrorCode.BASE_REVISION_AHEAD,
            ErrorCode.QUOTA_EXCEEDED,
        ),
        opt={ENTRY_BODY: True},  # limit from the settings (body_limits.py)
    )
    async def upload(
        self, caller: Caller, data: JSONBody[BackupUpload], push_entry: NamedDependency[PushEntry]
    ) -> BackupStored:
        """Upload one encrypted entry version. Retrying the same upload is harmless. 409
        with ``{"detail": {message, conflict_id, log_id}}`` when it would overwrite a version
        this device has not seen: both are kept as a conflict to resolve."""
        user_id = caller.user_id
        pushed = await push_entry(user_id, upload(data), token_issued_at=caller.issued_at)
        version = pushed.entry.version
        assert version is not None  # an accepted upload is live
        return BackupStored(
            id=pushed.entry.id,
            user_id=user_id,
            created_at=as_utc(version.created_at),
            updated_at=as_utc(version.updated_at),
            device_id=version.device_id,
            message=_STORED_MESSAGES.get(pushed.outcome, "Backup stored"),
            revision=pushed.entry.revision,
        )

    @post(
        "/batch",
        status_code=200,
        operation_id="upload_batch",
        **documented(
            "Upload a batch of encrypted entries",
            ErrorCode.FORBIDDEN_BY_TIER,
            ErrorCode.BATCH_CONFLICT,
            ErrorCode.BASE_REVISION_AHEAD,
            ErrorCode.QUOTA_EXCEEDED,
        ),
        request_max_body_size=BATCH_BODY_LIMIT,
    )
    async def upload_batch(
        self, caller: Caller, data: JSONBody[BatchUpload], push_batch: NamedDependency[PushBatch]
    ) -> BatchStored:
        """Upload up to 500 entry versions in one request and one transaction, each decided
        by the same conflict rules as ``POST /sync/backup``; ``results`` gives each item's
        outcome in request order. 413 beyond 500 items or the byte cap; 422 naming the index
        of a bad item (nothing stored); with ``atomic: true`` any conflict stores nothing and
        answers 409 listing the conflicting entry ``ids``."""
        uploads = []
        for index, item in enumerate(data.entries):
            try:
                uploads.append(upload(item))
            except ValidationFailed as exc:
                raise ValidationFailed(f"entries.{index}.{exc.field}", exc.message) from None
        results = await push_batch(
            caller.user_id, uploads, atomic=data.atomic, token_issued_at=caller.issued_at
        )
        items = [
            BatchItem(
                id=r.entry_id,
                outcome=r.outcome.value,
                revision=r.revision,
                conflict_id=r.conflict_id,
            )
            for r in results
        ]
        conflicts = sum(1 for r in results if r.conflicted)
        return BatchStored(results=items, stored=len(items) - conflicts, conflicts=conflicts)

    @get(
        "/backups",
        operation_id="list_backups",
        **documented("List your encrypted entries", ErrorCode.FORBIDDEN_BY_TIER),
    )
    async def list_backups(
        self,
        caller: Caller,
        list_backups: NamedDependency[ListBackups],
        since: Annotated[
            datetime | None,
            Parameter(
                description="Only entries the server accepted after this time (Z or an offset)"
            ),
        ] = None,
        device_id: DeviceId = None,
        limit: PageLimit = DEFAULT_PAGE,
        offset: Offset = 0,
    ) -> BackupList:
        """Live entries, oldest accepted first. What is returned counts as seen by
        ``device_id`` (it may then overwrite those versions without conflict)."""
        page = await list_backups(
            caller.user_id,
            require_offset("since", since),
            device_id,
            limit,
            offset,
            token_issued_at=caller.issued_at,
        )
        return BackupList(
            backups=[backup_view(entry) for entry in page.backups],
            has_more=page.has_more,
            total_count=page.total_count,
        )

    @get(
        "/changes",
        operation_id="list_changes",
        **documented(
            "List changes after a cursor", ErrorCode.FORBIDDEN_BY_TIER, ErrorCode.RESYNC_REQUIRED
        ),
    )
    async def changes(
        self,
        caller: Caller,
        pull_changes: NamedDependency[PullChanges],
        cursor: Annotated[
            str | None,
            Parameter(
                description="next_cursor of the previous page; absent: from the start. 410 "
                "for one this server did not issue",
                schema_extra={"pattern": CURSOR_PATTERN},
            ),
        ] = None,
        limit: PageLimit = DEFAULT_PAGE,
        device_id: DeviceId = None,
    ) -> ChangeList:
        """Every change after ``cursor`` in the order the server committed them, deletions
        as tombstones. 410 for a cursor this server did not issue: pull again from the
        start."""
        position = 0 if cursor is None else cursor_position(cursor)
        page = await pull_changes(
            caller.user_id, position, limit, device_id, token_issued_at=caller.issued_at
        )
        return ChangeList(
            changes=[change_view(entry) for entry in page.changes],
            next_cursor=str(page.next_cursor),
            has_more=page.has_more,
        )

    @delete(
        "/backup/content",
        status_code=200,
        operation_id="delete_all_backups",
        **documented("Delete every entry and conflict"),
    )
    async def delete_all(
        self, caller: Caller, delete_all_entries: NamedDependency[DeleteAllEntries]
    ) -> DeletedBackups:
        """Delete every backup and conflict of the user (allowed on any tier, for the cleanup
        after a downgrade)."""
        deleted = await delete_all_entries(caller.user_id, token_issued_at=caller.issued_at)
        return DeletedBackups(message=f"Deleted {deleted} backups", deleted_backups=deleted)

    @delete(
        "/backup/{backup_id:uuid}",
        status_code=200,
        operation_id="delete_backup",
        **documented("Delete one entry", ErrorCode.FORBIDDEN_BY_TIER, ErrorCode.NOT_FOUND),
    )
    async def delete_one(
        self,
        caller: Caller,
        backup_id: EntryId,
        delete_entry: NamedDependency[DeleteEntry],
        device_id: DeviceId = None,
    ) -> Message:
        """Delete one backup; other devices see a tombstone in the change feed. 404 when
        unknown."""
        entry = await delete_entry(
            caller.user_id, backup_id, device_id, token_issued_at=caller.issued_at
        )
        return Message(
            success=True,
            message="Backup deleted",
            details={"id": str(entry.id), "revision": entry.revision},
        )

    @get(
        "/entries/{entry_id:uuid}/revisions",
        operation_id="list_revisions",
        **documented(
            "List an entry's kept versions", ErrorCode.FORBIDDEN_BY_TIER, ErrorCode.NOT_FOUND
        ),
    )
    async def revisions(
        self,
        caller: Caller,
        entry_id: EntryId,
        list_revisions: NamedDependency[ListRevisions],
        cursor: Annotated[
            str | None,
            Parameter(
                description="next_cursor of the previous page; absent: the newest. 422 for "
                "anything else",
                schema_extra={"pattern": CURSOR_PATTERN},
            ),
        ] = None,
        limit: PageLimit = DEFAULT_PAGE,
    ) -> RevisionList:
        """The entry's kept versions (its history), newest first, a page at a time: each
        replaced version's ciphertext, the revision it was, the device that wrote it and when
        it was replaced. The server keeps them under its retention (``REVISION_HISTORY_MAX``
        per entry, ``REVISION_HISTORY_DAYS``); a deleted entry's too. Restoring one is an
        ordinary upload of it, encrypted again, with ``base_revision``. 404 when the entry
        is unknown or another user's."""
        before = None
        if cursor is not None:
            try:
                before = cursor_position(cursor)
            except ResyncRequired:  # not a feed: nothing to resync, the cursor is just wrong
                raise ValidationFailed(
                    "cursor", "cursor must be a next_cursor of this listing"
                ) from None
        page = await list_revisions(
            caller.user_id, entry_id, before, limit, token_issued_at=caller.issued_at
        )
        return RevisionList(
            revisions=[revision_view(r) for r in page.revisions],
            next_cursor=None if page.next_cursor is None else str(page.next_cursor),
            has_more=page.has_more,
        )

    @delete(
        "/entries/{entry_id:uuid}/revisions",
        status_code=204,
        operation_id="delete_revisions",
        **documented(
            "Delete an entry's kept versions", ErrorCode.FORBIDDEN_BY_TIER, ErrorCode.NOT_FOUND
        ),
    )
    async def delete_revisions(
        self,
        caller: Caller,
        entry_id: EntryId,
        delete_revisions: NamedDependency[DeleteRevisions],
    ) -> None:
        """Delete the entry's kept versions (its current version stays); their bytes leave
        the storage quota at once. 404 when the entry is unknown or another user's."""
        await delete_revisions(caller.user_id, entry_id, token_issued_at=caller.issued_at)

    @delete(
        "/metrics/all",
        status_code=200,
        operation_id="delete_all_metrics",
        **documented("Delete every metric"),
    )
    async def delete_metrics(
        self, caller: Caller, delete_all_metrics: NamedDependency[DeleteAllMetrics]
    ) -> DeletedMetrics:
        """Delete every encrypted metric of the user (allowed on any tier)."""
        deleted = await delete_all_metrics(caller.user_id, token_issued_at=caller.issued_at)
        return DeletedMetrics(message=f"Deleted {deleted} metrics", deleted_metrics=deleted)

    @get(
        "/conflicts",
        operation_id="list_conflicts",
        **documented("List open conflicts", ErrorCode.FORBIDDEN_BY_TIER),
    )
    async def conflicts(
        self,
        caller: Caller,
        list_conflicts: NamedDependency[ListConflicts],
        limit: PageLimit = DEFAULT_PAGE,
        offset: Offset = 0,
    ) -> ConflictList:
        """Unresolved conflicts, oldest first, a page at a time (``total_count``: how many
        are open in all): the version that could not be applied (local) and the entry's
        current one (remote). Listed is shown: each listed conflict is confirmed against
        both sides as listed, so a resolution that follows applies to them."""
        page = await list_conflicts(caller.user_id, limit, offset, token_issued_at=caller.issued_at)
        return ConflictList(
            conflicts=[conflict_item(view) for view in page.conflicts],
            total_count=page.total_count,
            has_more=page.has_more,
        )

    @get(
        "/conflicts/{conflict_id:uuid}",
        operation_id="get_conflict",
        **documented("Read one open conflict", ErrorCode.FORBIDDEN_BY_TIER, ErrorCode.NOT_FOUND),
    )
    async def conflict(
        self,
        caller: Caller,
        conflict_id: ConflictId,
        get_conflict: NamedDependency[GetConflict],
    ) -> ConflictItem:
        """One open conflict, as listed; fetched alone it is shown, so it is confirmed
        against both sides as returned. 404 when unknown, resolved or another user's."""
        view = await get_conflict(caller.user_id, conflict_id, token_issued_at=caller.issued_at)
        return conflict_item(view)

    @post(
        "/conflicts/{conflict_id:uuid}/resolve",
        status_code=200,
        operation_id="resolve_conflict",
        **documented(
            "Resolve a conflict",
            ErrorCode.FORBIDDEN_BY_TIER,
            ErrorCode.NOT_FOUND,
            ErrorCode.STALE_RESOLUTION,
            ErrorCode.QUOTA_EXCEEDED,
        ),
        opt={ENTRY_BODY: True},  # limit from the settings (body_limits.py)
    )
    async def resolve(
        self,
        caller: Caller,
        conflict_id: ConflictId,
        data: JSONBody[ResolveRequest],
        resolve_conflict: NamedDependency[ResolveConflict],
    ) -> Message:
        """Resolve a conflict: ``local`` applies the conflicting upload, ``remote`` keeps the
        current version, ``merged`` applies ``final_encrypted_content`` + ``final_iv`` (422
        without them). 404 when unknown or already resolved. Listing conflicts confirms them, so
        the first resolution after a listing applies. 409 when a side changed since the last
        listing (or since the ``remote_revision`` and ``generation`` sent): a string
        ``detail`` with ``code``, ``conflict_id`` and ``log_id`` beside it; nothing is
        written: list conflicts again and resolve against what they show now."""
        entry = await resolve_conflict(
            caller.user_id,
            conflict_id,
            resolution(data.chosen_version),
            merged_version(data),
            data.device_id,
            data.remote_revision,
            data.generation,
            token_issued_at=caller.issued_at,
        )
        return Message(
            success=True,
            message=f"Conflict resolved with the {data.chosen_version.value} version",
            details={
                "conflict_id": str(conflict_id),
                "log_id": str(entry.id),
                "revision": entry.revision,
                "chosen_version": data.chosen_version.value,
            },
        )
