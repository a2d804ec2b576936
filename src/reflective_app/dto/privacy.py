"""Privacy tiers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from reflective_app.dto.common import AwareDatetime, Base64, as_utc_or_none, check_moments
from reflective_domain.tiers import Features
from reflective_domain.use_cases.privacy import PrivacyState, TierChanged

TierName = Literal["local_only", "analytics_sync", "full_sync"]


class FeaturesView(msgspec.Struct):
    local_storage: bool
    local_themes: bool
    local_search: bool
    cloud_sync: bool
    cross_device_search: bool
    encrypted_backup: bool
    analytics_sync: bool

    @classmethod
    def of(cls, features: Features) -> FeaturesView:
        return cls(
            local_storage=features.local_storage,
            local_themes=features.local_themes,
            local_search=features.local_search,
            cloud_sync=features.cloud_sync,
            cross_device_search=features.cross_device_search,
            encrypted_backup=features.encrypted_backup,
            analytics_sync=features.analytics_sync,
        )


class PrivacyView(msgspec.Struct):
    current_tier: str
    sync_enabled: bool
    sync_enabled_at: datetime | None
    features_available: FeaturesView

    @classmethod
    def of(cls, state: PrivacyState) -> PrivacyView:
        return cls(
            current_tier=state.tier.value,
            sync_enabled=state.sync_enabled,
            sync_enabled_at=as_utc_or_none(state.sync_enabled_at),
            features_available=FeaturesView.of(state.features),
        )


class UpdatePrivacyRequest(msgspec.Struct):
    """An upgrade needs ``consent_timestamp`` and ``he_public_key`` (a SEAL public key made
    under the parameters of ``GET /api/encryption/context``). A downgrade deletes the cloud
    data the lower tier does not keep."""

    privacy_tier: TierName
    consent_timestamp: AwareDatetime | None = None
    he_public_key: Base64 | None = None

    def __post_init__(self) -> None:
        check_moments(consent_timestamp=self.consent_timestamp)

    def __repr__(self) -> str:
        return f"UpdatePrivacyRequest({self.privacy_tier})"


class RevokeResponse(msgspec.Struct):
    message: str
    deleted_metrics: int
    deleted_backups: int
    deleted_conflicts: int
    new_tier: str

    @classmethod
    def of(cls, changed: TierChanged) -> RevokeResponse:
        return cls(
            message="Cloud sync revoked; all cloud data deleted",
            deleted_metrics=changed.deleted.metrics,
            deleted_backups=changed.deleted.entries,
            deleted_conflicts=changed.deleted.conflicts,
            new_tier=changed.state.tier.value,
        )
