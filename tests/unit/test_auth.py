"""Accounts and sessions over the memory adapters."""

import pytest

from reflective_domain.errors import AlreadyExists, AuthenticationFailed, NotFound
from reflective_domain.use_cases.accounts import ProfileChanges, Registration
from tests.composition import new_user


async def test_registration_normalises_email_and_refuses_duplicates(container):
    user = await container.register()(Registration(" Ada@Example.com ", "long password"))
    assert user.email == "ada@example.com" and user.password_hash != "long password"
    with pytest.raises(AlreadyExists, match="Email already registered"):
        await container.register()(Registration("ADA@example.com", "other password"))


async def test_sign_in_answers_the_same_for_unknown_email_and_wrong_password(container):
    await new_user(container, "ada@example.com")
    with pytest.raises(AuthenticationFailed) as unknown:
        await container.sign_in()("nobody@example.com", "correct horse battery")
    with pytest.raises(AuthenticationFailed) as wrong:
        await container.sign_in()("ada@example.com", "wrong password")
    assert unknown.value.message == wrong.value.message == "Incorrect email or password"
    assert container.hasher().burned == 1  # the unknown email cost a hash too


async def test_refresh_rotates_and_a_reused_token_revokes_the_family(container):
    await new_user(container, "ada@example.com")
    first = await container.sign_in()("ada@example.com", "correct horse battery")
    second = await container.refresh_session()(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    with pytest.raises(AuthenticationFailed):
        await container.refresh_session()(first.refresh_token)  # replay
    with pytest.raises(AuthenticationFailed):
        await container.refresh_session()(second.refresh_token)  # the family is gone


async def test_sign_out_ends_the_session(container):
    await new_user(container, "ada@example.com")
    pair = await container.sign_in()("ada@example.com", "correct horse battery")
    user_id = await container.authorize()(pair.access_token)
    await container.sign_out()(user_id, pair.refresh_token)
    with pytest.raises(AuthenticationFailed):
        await container.refresh_session()(pair.refresh_token)


async def test_a_password_change_ends_every_session(container):
    uid = await new_user(container, "ada@example.com")
    pair = await container.sign_in()("ada@example.com", "correct horse battery")
    container.clock().advance(seconds=1)
    await container.update_profile()(
        uid, ProfileChanges(current_password="correct horse battery", password="new password!")
    )
    with pytest.raises(AuthenticationFailed):
        await container.authorize()(pair.access_token)
    with pytest.raises(AuthenticationFailed):
        await container.refresh_session()(pair.refresh_token)
    fresh = await container.sign_in()("ada@example.com", "new password!")
    assert await container.authorize()(fresh.access_token) == uid


async def test_a_password_change_needs_the_current_password(container):
    uid = await new_user(container, "ada@example.com")
    with pytest.raises(AuthenticationFailed):
        await container.update_profile()(
            uid, ProfileChanges(current_password="nope", password="x" * 9)
        )


async def test_deleting_the_account_needs_the_password_and_removes_it(container):
    uid = await new_user(container, "ada@example.com")
    with pytest.raises(AuthenticationFailed):
        await container.delete_account()(uid, "wrong")
    await container.delete_account()(uid, "correct horse battery")
    with pytest.raises(NotFound):
        await container.get_profile()(uid)


async def test_profile_counts_entries_and_streak_without_reading_them(container):
    import uuid

    from reflective_domain.tiers import PrivacyTier
    from tests.entries import upload, version

    uid = await new_user(container, "ada@example.com", PrivacyTier.FULL_SYNC)
    await container.push_entry()(uid, upload(uuid.uuid4(), version(at=container.clock().now())))
    profile = await container.get_profile()(uid)
    assert (profile.logs_count, profile.writing_streak) == (1, 1)


async def test_a_streak_longer_than_the_first_window_is_counted_whole(container):
    """The profile reads only recent entries' times, and further back only while the streak
    reaches the start of what it read: a 150-day streak, a gap, then older entries."""
    import uuid
    from datetime import timedelta

    from reflective_domain.streaks import STREAK_WINDOW_DAYS
    from reflective_domain.tiers import PrivacyTier
    from tests.entries import upload, version

    uid = await new_user(container, "ada@example.com", PrivacyTier.FULL_SYNC)
    now = container.clock().now()
    days = [*range(150), *range(151, 160)]  # days ago
    assert STREAK_WINDOW_DAYS < 150
    for ago in days:
        await container.push_entry()(
            uid, upload(uuid.uuid4(), version(at=now - timedelta(days=ago)))
        )
    profile = await container.get_profile()(uid)
    assert (profile.logs_count, profile.writing_streak) == (len(days), 150)
    # Exactly at the window's edge, and with nothing before it.
    other = await new_user(container, "bob@example.com", PrivacyTier.FULL_SYNC)
    for ago in range(STREAK_WINDOW_DAYS - 1):
        await container.push_entry()(
            other, upload(uuid.uuid4(), version(at=now - timedelta(days=ago)))
        )
    assert (await container.get_profile()(other)).writing_streak == STREAK_WINDOW_DAYS - 1
