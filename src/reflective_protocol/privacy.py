"""Privacy tiers."""

from __future__ import annotations

import enum
from typing import Annotated

import msgspec

from reflective_protocol.common import AwareDatetime, Base64, UtcDatetime, check_moments, doc


class Tier(str, enum.Enum):
    """The privacy tiers by name on the wire, lowest first."""

    LOCAL_ONLY = "local_only"
    ANALYTICS_SYNC = "analytics_sync"
    FULL_SYNC = "full_sync"


class FeaturesView(msgspec.Struct):
    local_storage: Annotated[bool, doc("Entries kept on the device")]
    local_themes: Annotated[bool, doc("Themes kept on the device")]
    local_search: Annotated[bool, doc("Search on the device")]
    cloud_sync: Annotated[bool, doc("Encrypted entries synced through the server")]
    cross_device_search: Annotated[bool, doc("Search over entries from every device")]
    encrypted_backup: Annotated[bool, doc("Encrypted entries kept by the server")]
    analytics_sync: Annotated[bool, doc("Homomorphically encrypted metrics on the server")]


class PrivacyView(msgspec.Struct):
    current_tier: Annotated[Tier, doc("The user's privacy tier")]
    sync_enabled: Annotated[bool, doc("Whether the tier keeps anything in the cloud")]
    sync_enabled_at: Annotated[
        UtcDatetime | None, doc("Since when the cloud tier is on (UTC); null on local_only")
    ]
    features_available: Annotated[FeaturesView, doc("What the tier offers")]


class UpdatePrivacyRequest(msgspec.Struct, omit_defaults=True):
    """An upgrade needs ``consent_timestamp`` and ``he_public_key`` (a SEAL public key made
    under the parameters of ``GET /api/encryption/context``). A downgrade deletes the cloud
    data the lower tier does not keep."""

    privacy_tier: Annotated[Tier, doc("The tier to move to")]
    consent_timestamp: Annotated[
        AwareDatetime | None,
        doc("When the user consented to the upgrade; needed for one", ["2026-11-01T10:00:00Z"]),
    ] = None
    he_public_key: Annotated[
        Base64 | None,
        doc("The user's SEAL public key (SEAL-native, base64); needed to reach a cloud tier"),
    ] = None

    def __post_init__(self) -> None:
        check_moments(consent_timestamp=self.consent_timestamp)

    def __repr__(self) -> str:
        return f"UpdatePrivacyRequest({self.privacy_tier.value})"


class RevokeResponse(msgspec.Struct):
    message: Annotated[str, doc("What was done, written for a person")]
    deleted_metrics: Annotated[int, doc("Encrypted metrics deleted")]
    deleted_backups: Annotated[int, doc("Encrypted entries deleted")]
    deleted_conflicts: Annotated[int, doc("Conflicts deleted")]
    new_tier: Annotated[Tier, doc("The tier now: local_only")]
