"""The export document: every cloud record of a user, ciphertexts as base64."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec

from reflective_app.dto.common import Base64, as_utc
from reflective_app.dto.sync import ChangeView, VersionView
from reflective_app.dto.tags import TagView
from reflective_app.dto.users import PreferencesView
from reflective_domain.use_cases.export import ExportBundle


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

    @classmethod
    def of(cls, bundle: ExportBundle, now: datetime) -> ExportDocument:
        user = bundle.user
        key = user.he_public_key
        return cls(
            exported_at=as_utc(now),
            account=ExportedAccount(
                id=user.id,
                email=user.email,
                display_name=user.display_name,
                privacy_tier=user.privacy_tier.value,
                created_at=as_utc(user.created_at),
                updated_at=as_utc(user.updated_at),
                preferences=PreferencesView.of(user.preferences),
                he_public_key=None if key is None else key.data,
                he_parameters=None if key is None else key.parameters.as_dict(),
            ),
            tags=[TagView.of(t) for t in bundle.tags],
            entries=[ChangeView.of(e) for e in bundle.entries],
            conflicts=[
                ExportedConflict(
                    id=c.id,
                    log_id=c.entry_id,
                    local_version=VersionView.of(c.local),
                    remote_revision=c.remote_revision,
                    detected_at=as_utc(c.detected_at),
                    resolved_at=None if c.resolved_at is None else as_utc(c.resolved_at),
                    resolution=None if c.resolution is None else c.resolution.value,
                )
                for c in bundle.conflicts
            ],
            metrics=[
                ExportedMetric(
                    id=m.id,
                    metric_type=m.metric_type,
                    timestamp=as_utc(m.timestamp),
                    encrypted_value=m.ciphertext,
                )
                for m in bundle.metrics
            ],
        )
