"""Encrypted entry sync: upload, listing, change feed, conflicts, revision history."""

from __future__ import annotations

from reflective_app.dto.common import as_utc
from reflective_domain.entries import Conflict, Entry, EntryVersion, Resolution, Revision, Upload
from reflective_domain.use_cases.conflicts import ConflictView, MergedVersion
from reflective_protocol.sync import (
    BackupUpload,
    BackupView,
    ChangeView,
    ChosenVersion,
    ConflictItem,
    ResolveRequest,
    RevisionView,
    VersionView,
)


def upload(item: BackupUpload) -> Upload:
    version = EntryVersion(
        content=item.encrypted_content,
        iv=item.content_iv,
        tag=item.content_tag,
        created_at=item.created_at,
        updated_at=item.updated_at,
        device_id=item.device_id,
        embedding=item.encrypted_embedding,
        embedding_iv=item.embedding_iv,
    )
    return Upload(item.id, version, item.base_revision)


def backup_view(entry: Entry) -> BackupView:
    version = entry.version
    assert version is not None  # listings hold live entries only
    return BackupView(
        id=entry.id,
        encrypted_content=version.content,
        content_iv=version.iv,
        content_tag=version.tag,
        encrypted_embedding=version.embedding,
        embedding_iv=version.embedding_iv,
        created_at=as_utc(version.created_at),
        updated_at=as_utc(version.updated_at),
        device_id=version.device_id,
        revision=entry.revision,
        synced_at=as_utc(entry.synced_at),
    )


def change_view(entry: Entry) -> ChangeView:
    view = ChangeView(
        id=entry.id,
        revision=entry.revision,
        deleted=entry.deleted,
        device_id=entry.device_id,
        synced_at=as_utc(entry.synced_at),
    )
    if (v := entry.version) is not None:
        view.encrypted_content, view.content_iv, view.content_tag = v.content, v.iv, v.tag
        view.encrypted_embedding, view.embedding_iv = v.embedding, v.embedding_iv
        view.created_at, view.updated_at = as_utc(v.created_at), as_utc(v.updated_at)
    return view


def version_view(version: EntryVersion) -> VersionView:
    return VersionView(
        encrypted_content=version.content,
        iv=version.iv,
        tag=version.tag,
        updated_at=as_utc(version.updated_at),
        device_id=version.device_id,
    )


def conflict_item(view: ConflictView) -> ConflictItem:
    conflict: Conflict = view.conflict
    remote = view.remote.version
    return ConflictItem(
        id=conflict.id,
        log_id=conflict.entry_id,
        local_version=version_view(conflict.local),
        remote_version=None if remote is None else version_view(remote),
        detected_at=as_utc(conflict.detected_at),
        remote_revision=view.remote.revision,
        generation=conflict.generation,
    )


def resolution(choice: ChosenVersion) -> Resolution:
    return Resolution(choice.value)


def merged_version(request: ResolveRequest) -> MergedVersion | None:
    if request.final_encrypted_content is None or request.final_iv is None:
        return None
    return MergedVersion(
        content=request.final_encrypted_content,
        iv=request.final_iv,
        tag=request.final_tag,
        embedding=request.final_encrypted_embedding,
        embedding_iv=request.final_embedding_iv,
    )


def revision_view(revision: Revision) -> RevisionView:
    return RevisionView(
        log_id=revision.entry_id,
        revision=revision.revision,
        encrypted_content=revision.content,
        content_iv=revision.iv,
        content_tag=revision.tag,
        device_id=revision.device_id,
        replaced_at=as_utc(revision.replaced_at),
    )
