"""Accounts and sessions over the memory adapters."""

import pytest

from reflective_domain.errors import AlreadyExists, AuthenticationFailed, NotFound
from reflective_domain.use_cases.accounts import ProfileChanges, Registration


async def test_registration_normalises_email_and_refuses_duplicates(services):
    user = await services.register(Registration(" Ada@Example.com ", "long password"))
    assert user.email == "ada@example.com" and user.password_hash != "long password"
    with pytest.raises(AlreadyExists, match="Email already registered"):
        await services.register(Registration("ADA@example.com", "other password"))


async def test_sign_in_answers_the_same_for_unknown_email_and_wrong_password(services):
    await services.new_user("ada@example.com")
    with pytest.raises(AuthenticationFailed) as unknown:
        await services.sign_in("nobody@example.com", "correct horse battery")
    with pytest.raises(AuthenticationFailed) as wrong:
        await services.sign_in("ada@example.com", "wrong password")
    assert unknown.value.message == wrong.value.message == "Incorrect email or password"
    assert services.hasher.burned == 1  # the unknown email cost a hash too


async def test_refresh_rotates_and_a_reused_token_revokes_the_family(services):
    await services.new_user("ada@example.com")
    first = await services.sign_in("ada@example.com", "correct horse battery")
    second = await services.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    with pytest.raises(AuthenticationFailed):
        await services.refresh(first.refresh_token)  # replay
    with pytest.raises(AuthenticationFailed):
        await services.refresh(second.refresh_token)  # the family is gone


async def test_sign_out_ends_the_session(services):
    await services.new_user("ada@example.com")
    pair = await services.sign_in("ada@example.com", "correct horse battery")
    user_id = await services.authorize(pair.access_token)
    await services.sign_out(user_id, pair.refresh_token)
    with pytest.raises(AuthenticationFailed):
        await services.refresh(pair.refresh_token)


async def test_a_password_change_ends_every_session(services):
    uid = await services.new_user("ada@example.com")
    pair = await services.sign_in("ada@example.com", "correct horse battery")
    services.clock.advance(seconds=1)
    await services.update_profile(
        uid, ProfileChanges(current_password="correct horse battery", password="new password!")
    )
    with pytest.raises(AuthenticationFailed):
        await services.authorize(pair.access_token)
    with pytest.raises(AuthenticationFailed):
        await services.refresh(pair.refresh_token)
    fresh = await services.sign_in("ada@example.com", "new password!")
    assert await services.authorize(fresh.access_token) == uid


async def test_a_password_change_needs_the_current_password(services):
    uid = await services.new_user("ada@example.com")
    with pytest.raises(AuthenticationFailed):
        await services.update_profile(
            uid, ProfileChanges(current_password="nope", password="x" * 9)
        )


async def test_deleting_the_account_needs_the_password_and_removes_it(services):
    uid = await services.new_user("ada@example.com")
    with pytest.raises(AuthenticationFailed):
        await services.delete_account(uid, "wrong")
    await services.delete_account(uid, "correct horse battery")
    with pytest.raises(NotFound):
        await services.profile(uid)


async def test_profile_counts_entries_and_streak_without_reading_them(services):
    import uuid

    from reflective_domain.tiers import PrivacyTier
    from tests.services import upload, version

    uid = await services.new_user("ada@example.com", PrivacyTier.FULL_SYNC)
    await services.push(uid, upload(uuid.uuid4(), version(at=services.clock.now())))
    profile = await services.profile(uid)
    assert (profile.logs_count, profile.writing_streak) == (1, 1)


async def test_a_streak_longer_than_the_first_window_is_counted_whole(services):
    """The profile reads only recent entries' times, and further back only while the streak
    reaches the start of what it read: a 150-day streak, a gap, then older entries."""
    import uuid
    from datetime import timedelta

    from reflective_domain.streaks import STREAK_WINDOW_DAYS
    from reflective_domain.tiers import PrivacyTier
    from tests.services import upload, version

    uid = await services.new_user("ada@example.com", PrivacyTier.FULL_SYNC)
    now = services.clock.now()
    days = [*range(150), *range(151, 160)]  # days ago
    assert STREAK_WINDOW_DAYS < 150
    for ago in days:
        await services.push(uid, upload(uuid.uuid4(), version(at=now - timedelta(days=ago))))
    profile = await services.profile(uid)
    assert (profile.logs_count, profile.writing_streak) == (len(days), 150)
    # Exactly at the window's edge, and with nothing before it.
    other = await services.new_user("bob@example.com", PrivacyTier.FULL_SYNC)
    for ago in range(STREAK_WINDOW_DAYS - 1):
        await services.push(other, upload(uuid.uuid4(), version(at=now - timedelta(days=ago))))
    assert (await services.profile(other)).writing_streak == STREAK_WINDOW_DAYS - 1
