"""The export document: every cloud record of a user, ciphertexts as base64."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import msgspec

from reflective_app.dto.common import Base64, as_utc
from reflective_app.dto.sync import ChangeView, RevisionView, VersionView
from reflective_app.dto.tags import TagView
from reflective_app.dto.users import PreferencesView
from reflective_domain.accounts import User
from reflective_domain.entries import Conflict
from reflective_domain.metrics import EncryptedMetric
from reflective_domain.use_cases.export import ExportBundle, ExportHead, ExportPages


class ExportedAccount(msgspec.Struct):
    id: uuid.UUID
    email: str
    display_name: str | None
    privacy_tier: str
    created_at: datetime
    updated_at: datetime
    preferences: PreferencesView
    he_public_key: Base64 | None
    he_parameters: dict[str, Any] | None


class ExportedConflict(msgspec.Struct):
    id: uuid.UUID
    log_id: uuid.UUID
    local_version: VersionView
    remote_revision: int
    detected_at: datetime
    resolved_at: datetime | None
    resolution: str | None


class ExportedMetric(msgspec.Struct):
    id: uuid.UUID
    metric_type: str
    timestamp: datetime
    encrypted_value: Base64


class ExportDocument(msgspec.Struct):
    exported_at: datetime
    account: ExportedAccount
    tags: list[TagView]
    entries: list[ChangeView]
    conflicts: list[ExportedConflict]
    metrics: list[ExportedMetric]
    revisions: list[RevisionView]

    @classmethod
    def of(cls, bundle: ExportBundle, now: datetime) -> ExportDocument:
        return cls(
            exported_at=as_utc(now),
            account=exported_account(bundle.user),
            tags=[TagView.of(t) for t in bundle.tags],
            entries=[ChangeView.of(e) for e in bundle.entries],
            conflicts=[exported_conflict(c) for c in bundle.conflicts],
            metrics=[exported_metric(m) for m in bundle.metrics],
            revisions=[RevisionView.of(r) for r in bundle.revisions],
        )


def exported_account(user: User) -> ExportedAccount:
    key = user.he_public_key
    return ExportedAccount(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        privacy_tier=user.privacy_tier.value,
        created_at=as_utc(user.created_at),
        updated_at=as_utc(user.updated_at),
        preferences=PreferencesView.of(user.preferences),
        he_public_key=None if key is None else key.data,
        he_parameters=None if key is None else key.parameters.as_dict(),
    )


def exported_conflict(c: Conflict) -> ExportedConflict:
    return ExportedConflict(
        id=c.id,
        log_id=c.entry_id,
        local_version=VersionView.of(c.local),
        remote_revision=c.remote_revision,
        detected_at=as_utc(c.detected_at),
        resolved_at=None if c.resolved_at is None else as_utc(c.resolved_at),
        resolution=None if c.resolution is None else c.resolution.value,
    )


def exported_metric(m: EncryptedMetric) -> ExportedMetric:
    return ExportedMetric(
        id=m.id,
        metric_type=m.metric_type,
        timestamp=as_utc(m.timestamp),
        encrypted_value=m.ciphertext,
    )


_ENCODER = msgspec.json.Encoder()


async def export_stream(
    pages: ExportPages, head: ExportHead, now: datetime
) -> AsyncIterator[bytes]:
    """The ExportDocument as JSON, written a page at a time: the same document
    ``ExportDocument.of`` makes, never all in memory."""
    user_id = head.user.id
    yield (
        b'{"exported_at":'
        + _ENCODER.encode(as_utc(now))
        + b',"account":'
        + _ENCODER.encode(exported_account(head.user))
        + b',"tags":'
        + _ENCODER.encode([TagView.of(t) for t in head.tags])
    )
    sections: list[tuple[bytes, AsyncIterator[list[Any]], Callable[[Any], Any]]] = [
        (b',"entries":[', pages.entries(user_id), ChangeView.of),
        (b'],"conflicts":[', pages.conflicts(user_id), exported_conflict),
        (b'],"metrics":[', pages.metrics(user_id), exported_metric),
        (b'],"revisions":[', pages.revisions(user_id), RevisionView.of),
    ]
    for opening, section, view in sections:
        yield opening
        first = True
        async for page in section:
            parts = [_ENCODER.encode(view(item)) for item in page]
            yield (b"" if first else b",") + b",".join(parts)
            first = False
    yield b"]}"
