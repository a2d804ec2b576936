"""Privacy tiers and the transition policy between them."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class PrivacyTier(enum.Enum):
    """What the user lets the server keep. Ordered: local_only < analytics_sync < full_sync."""

    LOCAL_ONLY = "local_only"
    ANALYTICS_SYNC = "analytics_sync"
    FULL_SYNC = "full_sync"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, PrivacyTier):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, PrivacyTier):
            return NotImplemented
        return self.rank <= other.rank

    @property
    def keeps(self) -> frozenset[CloudData]:
        """The kinds of cloud data the server may hold for a user on this tier."""
        return _KEEPS[self]

    @property
    def needs_he_key(self) -> bool:
        return CloudData.HE_KEY in self.keeps

    def permits(self, data: CloudData) -> bool:
        return data in self.keeps


class CloudData(enum.Enum):
    """A kind of user data the server can hold beyond the account itself."""

    HE_KEY = "he_key"
    METRICS = "metrics"
    ENTRIES = "entries"
    CONFLICTS = "conflicts"


_RANK = {PrivacyTier.LOCAL_ONLY: 0, PrivacyTier.ANALYTICS_SYNC: 1, PrivacyTier.FULL_SYNC: 2}

_KEEPS: dict[PrivacyTier, frozenset[CloudData]] = {
    PrivacyTier.LOCAL_ONLY: frozenset(),
    PrivacyTier.ANALYTICS_SYNC: frozenset({CloudData.HE_KEY, CloudData.METRICS}),
    PrivacyTier.FULL_SYNC: frozenset(
        {CloudData.HE_KEY, CloudData.METRICS, CloudData.ENTRIES, CloudData.CONFLICTS}
    ),
}


@dataclass(frozen=True, slots=True)
class Features:
    """What the client may offer on a tier (``features_available`` in docs/API_CONTRACT.md)."""

    local_storage: bool
    local_themes: bool
    local_search: bool
    cloud_sync: bool
    cross_device_search: bool
    encrypted_backup: bool
    analytics_sync: bool

    @classmethod
    def of(cls, tier: PrivacyTier) -> Features:
        full = tier is PrivacyTier.FULL_SYNC
        return cls(
            local_storage=True,
            local_themes=True,
            local_search=True,
            cloud_sync=full,
            cross_device_search=full,
            encrypted_backup=full,
            analytics_sync=tier.permits(CloudData.METRICS),
        )


def data_to_delete(current: PrivacyTier, target: PrivacyTier) -> frozenset[CloudData]:
    """Exactly the cloud data ``current`` keeps that ``target`` does not."""
    return current.keeps - target.keeps
