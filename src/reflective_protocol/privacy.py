"""Privacy tiers."""

from __future__ import annotations

import enum

import msgspec

from reflective_protocol.common import AwareDatetime, Base64, UtcDatetime, check_moments


class Tier(str, enum.Enum):
    """The privacy tiers by name on the wire, lowest first."""

    LOCAL_ONLY = "local_only"
    ANALYTICS_SYNC = "analytics_sync"
    FULL_SYNC = "full_sync"


class FeaturesView(msgspec.Struct):
    local_storage: bool
    local_themes: bool
    local_search: bool
    cloud_sync: bool
    cross_device_search: bool
    encrypted_backup: bool
    analytics_sync: bool


class PrivacyView(msgspec.Struct):
    current_tier: Tier
    sync_enabled: bool
    sync_enabled_at: UtcDatetime | None
    features_available: FeaturesView


class UpdatePrivacyRequest(msgspec.Struct, omit_defaults=True):
    """An upgrade needs ``consent_timestamp`` and ``he_public_key`` (a SEAL public key made
    under the parameters of ``GET /api/encryption/context``). A downgrade deletes the cloud
    data the lower tier does not keep."""

    privacy_tier: Tier
    consent_timestamp: AwareDatetime | None = None
    he_public_key: Base64 | None = None

    def __post_init__(self) -> None:
        check_moments(consent_timestamp=self.consent_timestamp)

    def __repr__(self) -> str:
        return f"UpdatePrivacyRequest({self.privacy_tier.value})"


class RevokeResponse(msgspec.Struct):
    message: str
    deleted_metrics: int
    deleted_backups: int
    deleted_conflicts: int
    new_tier: Tier
