"""The export document: every cloud record of a user, ciphertexts as base64."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from reflective_protocol.common import Base64, UtcDatetime
from reflective_protocol.privacy import Tier
from reflective_protocol.sync import ChangeView, RevisionView, VersionView
from reflective_protocol.tags import TagView
from reflective_protocol.users import PreferencesView


class ExportedAccount(msgspec.Struct):
    id: uuid.UUID
    email: str
    display_name: str | None
    privacy_tier: Tier
    created_at: UtcDatetime
    updated_at: UtcDatetime
    preferences: PreferencesView
    he_public_key: Base64 | None
    he_parameters: dict[str, Any] | None


class ExportedConflict(msgspec.Struct):
    id: uuid.UUID
    log_id: uuid.UUID
    local_version: VersionView
    remote_revision: int
    detected_at: UtcDatetime
    resolved_at: UtcDatetime | None
    resolution: str | None


class ExportedMetric(msgspec.Struct):
    id: uuid.UUID
    metric_type: str
    timestamp: UtcDatetime
    encrypted_value: Base64


class ExportedPackedYear(msgspec.Struct):
    """One packed year: the encrypted slot-wise sum of its uploads."""

    metric_type: str
    year: int
    uploads: int
    ciphertext: Base64


class ExportDocument(msgspec.Struct):
    exported_at: UtcDatetime
    account: ExportedAccount
    tags: list[TagView]
    entries: list[ChangeView]
    conflicts: list[ExportedConflict]
    metrics: list[ExportedMetric]
    packed_metrics: list[ExportedPackedYear]
    revisions: list[RevisionView]
