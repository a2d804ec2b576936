"""The export document: every cloud record of a user, ciphertexts as base64."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec

from reflective_protocol.common import Base64, UtcDatetime, doc
from reflective_protocol.privacy import Tier
from reflective_protocol.sync import ChangeView, RevisionView, VersionView
from reflective_protocol.tags import TagView
from reflective_protocol.users import PreferencesView


class ExportedAccount(msgspec.Struct):
    id: Annotated[uuid.UUID, doc("The user's id")]
    email: Annotated[str, doc("The sign-in email")]
    display_name: Annotated[str | None, doc("The name shown, if set")]
    privacy_tier: Annotated[Tier, doc("The user's privacy tier")]
    created_at: Annotated[UtcDatetime, doc("When the account was created (UTC)")]
    updated_at: Annotated[UtcDatetime, doc("When the account last changed (UTC)")]
    preferences: Annotated[PreferencesView, doc("The writing preferences")]
    he_public_key: Annotated[Base64 | None, doc("The SEAL public key held (base64), if any")]
    he_parameters: Annotated[
        dict[str, Any] | None, doc("The CKKS parameters the key was made under, if any")
    ]


class ExportedConflict(msgspec.Struct):
    id: Annotated[uuid.UUID, doc("The conflict's id")]
    log_id: Annotated[uuid.UUID, doc("The entry in conflict")]
    local_version: Annotated[VersionView, doc("The upload the server could not accept")]
    remote_revision: Annotated[int, doc("The entry revision it was last confirmed against")]
    detected_at: Annotated[UtcDatetime, doc("When the conflict arose (UTC)")]
    resolved_at: Annotated[UtcDatetime | None, doc("When it was resolved (UTC); null: open")]
    resolution: Annotated[str | None, doc("local, remote, merged or superseded; null: open")]


class ExportedMetric(msgspec.Struct):
    id: Annotated[uuid.UUID, doc("The metric's id")]
    metric_type: Annotated[str, doc("What is measured")]
    timestamp: Annotated[UtcDatetime, doc("When the value was measured (UTC)")]
    encrypted_value: Annotated[Base64, doc("A SEAL-native Ciphertext (base64)")]


class ExportedPackedYear(msgspec.Struct):
    """One packed year: the encrypted slot-wise sum of its uploads."""

    metric_type: Annotated[str, doc("What is measured")]
    year: Annotated[int, doc("The UTC calendar year")]
    uploads: Annotated[int, doc("How many deltas were added into it")]
    ciphertext: Base64


class ExportDocument(msgspec.Struct):
    exported_at: Annotated[UtcDatetime, doc("When the export was made (UTC)")]
    account: Annotated[ExportedAccount, doc("The account")]
    tags: Annotated[list[TagView], doc("Every tag")]
    entries: Annotated[list[ChangeView], doc("Every entry, deletions as tombstones")]
    conflicts: Annotated[list[ExportedConflict], doc("Every conflict, open or resolved")]
    metrics: Annotated[list[ExportedMetric], doc("Every encrypted metric")]
    packed_metrics: Annotated[list[ExportedPackedYear], doc("Every packed year of metrics")]
    revisions: Annotated[list[RevisionView], doc("Every kept version of every entry")]
