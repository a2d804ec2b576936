"""The export document: every cloud record of a user, ciphertexts as base64."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import msgspec

from reflective_app.dto.common import as_utc
from reflective_app.dto.privacy import wire_tier
from reflective_app.dto.sync import change_view, revision_view, version_view
from reflective_app.dto.tags import tag_view
from reflective_app.dto.users import preferences_view
from reflective_domain.accounts import User
from reflective_domain.entries import Conflict
from reflective_domain.metrics import EncryptedMetric
from reflective_domain.packed import PackedWindow
from reflective_domain.use_cases.export import ExportBundle, ExportHead, ExportPages
from reflective_protocol.export import (
    ExportDocument,
    ExportedAccount,
    ExportedConflict,
    ExportedMetric,
    ExportedPackedYear,
)


def export_document(bundle: ExportBundle, now: datetime) -> ExportDocument:
    return ExportDocument(
        exported_at=as_utc(now),
        account=exported_account(bundle.user),
        tags=[tag_view(t) for t in bundle.tags],
        entries=[change_view(e) for e in bundle.entries],
        conflicts=[exported_conflict(c) for c in bundle.conflicts],
        metrics=[exported_metric(m) for m in bundle.metrics],
        packed_metrics=[exported_packed(w) for w in bundle.packed_metrics],
        revisions=[revision_view(r) for r in bundle.revisions],
    )


def exported_account(user: User) -> ExportedAccount:
    key = user.he_public_key
    return ExportedAccount(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        privacy_tier=wire_tier(user.privacy_tier),
        created_at=as_utc(user.created_at),
        updated_at=as_utc(user.updated_at),
        preferences=preferences_view(user.preferences),
        he_public_key=None if key is None else key.data,
        he_parameters=None if key is None else key.parameters.as_dict(),
    )


def exported_conflict(c: Conflict) -> ExportedConflict:
    return ExportedConflict(
        id=c.id,
        log_id=c.entry_id,
        local_version=version_view(c.local),
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


def exported_packed(w: PackedWindow) -> ExportedPackedYear:
    return ExportedPackedYear(
        metric_type=w.metric_type, year=w.year, uploads=w.uploads, ciphertext=w.ciphertext
    )


_ENCODER = msgspec.json.Encoder()


async def export_stream(
    pages: ExportPages, head: ExportHead, now: datetime
) -> AsyncIterator[bytes]:
    """The ExportDocument as JSON, written a page at a time: the same document
    ``export_document`` makes, never all in memory."""
    user_id = head.user.id
    yield (
        b'{"exported_at":'
        + _ENCODER.encode(as_utc(now))
        + b',"account":'
        + _ENCODER.encode(exported_account(head.user))
        + b',"tags":'
        + _ENCODER.encode([tag_view(t) for t in head.tags])
    )
    sections: list[tuple[bytes, AsyncIterator[list[Any]], Callable[[Any], Any]]] = [
        (b',"entries":[', pages.entries(user_id), change_view),
        (b'],"conflicts":[', pages.conflicts(user_id), exported_conflict),
        (b'],"metrics":[', pages.metrics(user_id), exported_metric),
        (b'],"packed_metrics":[', pages.packed_metrics(user_id), exported_packed),
        (b'],"revisions":[', pages.revisions(user_id), revision_view),
    ]
    for opening, section, view in sections:
        yield opening
        first = True
        async for page in section:
            parts = [_ENCODER.encode(view(item)) for item in page]
            yield (b"" if first else b",") + b",".join(parts)
            first = False
    yield b"]}"
