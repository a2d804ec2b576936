"""Privacy tiers. The protocol names the tiers for the wire (``Tier``), the domain for its
rules (``PrivacyTier``); the two meet here, by value, and nowhere else."""

from __future__ import annotations

from reflective_app.dto.common import as_utc_or_none
from reflective_domain.tiers import Features, PrivacyTier
from reflective_domain.use_cases.privacy import PrivacyState, TierChanged
from reflective_protocol.privacy import FeaturesView, PrivacyView, RevokeResponse, Tier


def wire_tier(tier: PrivacyTier) -> Tier:
    return Tier(tier.value)


def domain_tier(tier: Tier) -> PrivacyTier:
    return PrivacyTier(tier.value)


def features_view(features: Features) -> FeaturesView:
    return FeaturesView(
        local_storage=features.local_storage,
        local_themes=features.local_themes,
        local_search=features.local_search,
        cloud_sync=features.cloud_sync,
        cross_device_search=features.cross_device_search,
        encrypted_backup=features.encrypted_backup,
        analytics_sync=features.analytics_sync,
    )


def privacy_view(state: PrivacyState) -> PrivacyView:
    return PrivacyView(
        current_tier=wire_tier(state.tier),
        sync_enabled=state.sync_enabled,
        sync_enabled_at=as_utc_or_none(state.sync_enabled_at),
        features_available=features_view(state.features),
    )


def revoke_response(changed: TierChanged) -> RevokeResponse:
    return RevokeResponse(
        message="Cloud sync revoked; all cloud data deleted",
        deleted_metrics=changed.deleted.metrics,
        deleted_backups=changed.deleted.entries,
        deleted_conflicts=changed.deleted.conflicts,
        new_tier=wire_tier(changed.state.tier),
    )
