from datetime import datetime, timezone

import pytest

from reflective_domain.accounts import User
from reflective_domain.errors import TierChangeRejected
from reflective_domain.he_params import CkksParameters, HePublicKey
from reflective_domain.tiers import CloudData, Features, PrivacyTier, data_to_delete

NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)
KEY = HePublicKey(b"PK-1", CkksParameters.default())
LOCAL, ANALYTICS, FULL = PrivacyTier.LOCAL_ONLY, PrivacyTier.ANALYTICS_SYNC, PrivacyTier.FULL_SYNC


def a_user() -> User:
    return User(
        id=__import__("uuid").uuid4(),
        email="a@b.co",
        password_hash="h",
        created_at=NOW,
        updated_at=NOW,
    )


def test_tiers_are_ordered_local_then_analytics_then_full():
    assert LOCAL < ANALYTICS < FULL
    assert sorted([FULL, LOCAL, ANALYTICS]) == [LOCAL, ANALYTICS, FULL]


def test_full_to_analytics_deletes_entries_and_conflicts():
    assert data_to_delete(FULL, ANALYTICS) == {CloudData.ENTRIES, CloudData.CONFLICTS}


def test_down_to_local_deletes_metrics_entries_conflicts_and_key():
    assert data_to_delete(FULL, LOCAL) == set(CloudData)
    assert data_to_delete(ANALYTICS, LOCAL) == {CloudData.METRICS, CloudData.HE_KEY}


def test_upgrades_delete_nothing():
    assert data_to_delete(LOCAL, FULL) == set()
    assert data_to_delete(ANALYTICS, FULL) == set()


def test_upgrade_needs_an_he_key():
    user = a_user()
    with pytest.raises(TierChangeRejected, match="he_public_key"):
        user.change_tier(ANALYTICS, NOW, consent_at=NOW)
    assert user.privacy_tier is LOCAL


def test_upgrade_needs_consent():
    user = a_user()
    with pytest.raises(TierChangeRejected, match="consent"):
        user.change_tier(FULL, NOW, he_public_key=KEY)


def test_upgrade_from_analytics_to_full_reuses_the_held_key():
    user = a_user()
    user.change_tier(ANALYTICS, NOW, NOW, KEY)
    change = user.change_tier(FULL, NOW, NOW)
    assert user.he_public_key == KEY and change.delete == frozenset()


def test_a_new_key_drops_metrics_made_under_the_old_one():
    user = a_user()
    user.change_tier(ANALYTICS, NOW, NOW, KEY)
    change = user.change_tier(FULL, NOW, NOW, HePublicKey(b"PK-2", CkksParameters.default()))
    assert change.delete == {CloudData.METRICS}


def test_revoking_to_local_drops_key_and_sync_timestamp():
    user = a_user()
    user.change_tier(FULL, NOW, NOW, KEY)
    assert user.sync_enabled and user.sync_enabled_at == NOW
    user.change_tier(LOCAL, NOW)
    assert user.he_public_key is None and user.sync_enabled_at is None and not user.sync_enabled


def test_features_follow_the_tier():
    assert not Features.of(LOCAL).cloud_sync and not Features.of(LOCAL).analytics_sync
    assert Features.of(ANALYTICS).analytics_sync and not Features.of(ANALYTICS).encrypted_backup
    assert Features.of(FULL).cloud_sync and Features.of(FULL).cross_device_search
