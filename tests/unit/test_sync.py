"""Sync use cases over the memory adapters."""

import uuid

import pytest

from reflective_domain.entries import Resolution
from reflective_domain.errors import (
    EntryConflict,
    ForbiddenByTier,
    LimitExceeded,
    NotFound,
    ResyncRequired,
    StaleResolution,
    ValidationFailed,
)
from reflective_domain.tiers import PrivacyTier
from reflective_domain.use_cases.conflicts import MergedVersion
from tests.composition import new_user
from tests.entries import upload, version

E1 = uuid.UUID(int=1001)


@pytest.fixture
async def user(container):
    return await new_user(container, tier=PrivacyTier.FULL_SYNC)


async def test_sync_is_refused_below_full_sync(container):
    uid = await new_user(container, tier=PrivacyTier.ANALYTICS_SYNC)
    with pytest.raises(ForbiddenByTier):
        await container.push_entry()(uid, upload(E1, version()))
    with pytest.raises(ForbiddenByTier):
        await container.pull_changes()(uid)


async def test_first_upload_creates_revision_one(container, user):
    pushed = await container.push_entry()(user, upload(E1, version()))
    assert pushed.entry.revision == 1 and pushed.entry.change_seq == 1


async def test_retried_upload_is_idempotent(container, user):
    v = version()
    await container.push_entry()(user, upload(E1, v))
    again = await container.push_entry()(user, upload(E1, v))
    assert again.entry.revision == 1
    assert (await container.pull_changes()(user)).next_cursor == 1


async def test_a_late_retry_of_an_older_version_does_not_overwrite_a_newer_one(container, user):
    v1, v2 = version("phone"), version("phone")
    await container.push_entry()(user, upload(E1, v1))
    await container.push_entry()(user, upload(E1, v2))
    late = await container.push_entry()(user, upload(E1, v1))
    assert late.entry.revision == 2 and late.entry.version.content == v2.content


async def test_conflict_keeps_both_versions_and_names_the_entry(container, user):
    await container.push_entry()(user, upload(E1, version("phone")))
    theirs = version("laptop")
    with pytest.raises(EntryConflict) as err:
        await container.push_entry()(user, upload(E1, theirs))
    assert err.value.entry_id == E1
    [view] = (await container.list_conflicts()(user)).conflicts
    assert view.conflict.id == err.value.conflict_id
    assert view.conflict.local.content == theirs.content
    assert view.remote.revision == 1


async def test_pulling_lets_a_device_fast_forward(container, user):
    await container.push_entry()(user, upload(E1, version("phone")))
    await container.pull_changes()(user, device_id="laptop")
    pushed = await container.push_entry()(user, upload(E1, version("laptop")))
    assert pushed.entry.revision == 2


async def test_listing_backups_counts_as_sending_them(container, user):
    await container.push_entry()(user, upload(E1, version("phone")))
    page = await container.list_backups()(user, device_id="laptop")
    assert [e.id for e in page.backups] == [E1] and page.total_count == 1
    assert (await container.push_entry()(user, upload(E1, version("laptop")))).entry.revision == 2


async def test_backups_leave_out_the_asking_devices_own_writes(container, user):
    await container.push_entry()(user, upload(E1, version("phone")))
    page = await container.list_backups()(user, device_id="phone")
    assert page.backups == [] and not page.has_more


async def test_backups_paginate_with_has_more(container, user):
    for n in range(5):
        await container.push_entry()(user, upload(uuid.UUID(int=n + 1), version()))
    first = await container.list_backups()(user, limit=2)
    assert len(first.backups) == 2 and first.has_more and first.total_count == 5
    last = await container.list_backups()(user, limit=2, offset=4)
    assert len(last.backups) == 1 and not last.has_more


@pytest.mark.parametrize("choice", [Resolution.LOCAL, Resolution.REMOTE, Resolution.MERGED])
async def test_resolution_closes_the_conflict(container, user, choice):
    mine = version("phone")
    await container.push_entry()(user, upload(E1, mine))
    theirs = version("laptop")
    with pytest.raises(EntryConflict) as err:
        await container.push_entry()(user, upload(E1, theirs))
    merged = MergedVersion(b"merged", b"m" * 12) if choice is Resolution.MERGED else None
    entry = await container.resolve_conflict()(user, err.value.conflict_id, choice, merged)
    expected = {
        Resolution.LOCAL: theirs.content,
        Resolution.REMOTE: mine.content,
        Resolution.MERGED: b"merged",
    }[choice]
    assert entry.version.content == expected
    assert entry.revision == (1 if choice is Resolution.REMOTE else 2)
    assert (await container.list_conflicts()(user)).conflicts == []
    with pytest.raises(NotFound):
        await container.resolve_conflict()(user, err.value.conflict_id, choice, merged)


async def test_merged_resolution_needs_content(container, user):
    await container.push_entry()(user, upload(E1, version("phone")))
    with pytest.raises(EntryConflict) as err:
        await container.push_entry()(user, upload(E1, version("laptop")))
    with pytest.raises(ValidationFailed):
        await container.resolve_conflict()(user, err.value.conflict_id, Resolution.MERGED, None)


async def test_delete_leaves_a_tombstone_in_the_feed(container, user):
    await container.push_entry()(user, upload(E1, version("phone")))
    before = await container.pull_changes()(user)
    await container.delete_entry()(user, E1, "phone")
    after = await container.pull_changes()(user, cursor=before.next_cursor)
    [tomb] = after.changes
    assert tomb.deleted and tomb.revision == 2
    with pytest.raises(NotFound):
        await container.delete_entry()(user, E1)


async def test_an_unknown_cursor_asks_for_a_resync(container, user):
    with pytest.raises(ResyncRequired):
        await container.pull_changes()(user, cursor=99)


async def test_oversized_entries_are_refused(container, user):
    with pytest.raises(LimitExceeded):
        await container.push_entry()(user, upload(E1, version(content=b"x" * (1024 * 1024 + 1))))


async def test_another_users_entry_is_invisible(container, user):
    await container.push_entry()(user, upload(E1, version()))
    other = await new_user(container, "eve@example.com", PrivacyTier.FULL_SYNC)
    with pytest.raises(NotFound):
        await container.delete_entry()(other, E1)
    assert (await container.pull_changes()(other)).changes == []


async def test_the_storage_quota_counts_every_entry_and_frees_replaced_versions(container, user):
    from reflective_domain.entries import ROW_OVERHEAD_BYTES, EntryLimits, Retention
    from reflective_domain.use_cases.sync import PushEntry

    # With history off (see test_history for the quota with kept versions).
    limits = EntryLimits(max_user_bytes=ROW_OVERHEAD_BYTES + 100, retention=Retention(0))
    push = PushEntry(container.uow_factory(), container.clock(), container.ids(), limits)
    await push(user, upload(uuid.UUID(int=1), version(content=b"a" * 60)))
    with pytest.raises(LimitExceeded, match="quota"):
        await push(user, upload(uuid.UUID(int=2), version(content=b"b" * 60)))
    # Replacing the one entry with a version of the same size fits: the old one is freed.
    assert (
        await push(user, upload(uuid.UUID(int=1), version(content=b"c" * 90)))
    ).entry.revision == 2


async def test_the_storage_quota_counts_empty_entries_and_conflicts(container, user):
    from reflective_domain.entries import ROW_OVERHEAD_BYTES, EntryLimits
    from reflective_domain.use_cases.sync import PushEntry

    limits = EntryLimits(max_user_bytes=3 * ROW_OVERHEAD_BYTES + 50)
    push = PushEntry(container.uow_factory(), container.clock(), container.ids(), limits)
    # Empty ciphertexts still cost their row.
    await push(user, upload(uuid.UUID(int=1), version("laptop", content=b"")))
    await push(user, upload(uuid.UUID(int=2), version("laptop", content=b"")))
    # A conflicting upload is stored too, so it counts: this one does not fit.
    with pytest.raises(LimitExceeded, match="quota"):
        await push(user, upload(uuid.UUID(int=1), version("phone", content=b"x" * 60)))
    assert (await container.list_conflicts()(user)).conflicts == []
    with pytest.raises(EntryConflict):  # this one fits, and is kept as a conflict
        await push(user, upload(uuid.UUID(int=1), version("phone", content=b"x" * 40)))
    with pytest.raises(LimitExceeded, match="quota"):
        await push(user, upload(uuid.UUID(int=3), version("laptop", content=b"")))
    # Deleting an entry keeps its version as history and its tombstone's row: nothing freed.
    await container.delete_entry()(user, uuid.UUID(int=2))
    with pytest.raises(LimitExceeded, match="quota"):
        await push(user, upload(uuid.UUID(int=3), version("laptop", content=b"")))
    await container.delete_all_entries()(user)
    await push(user, upload(uuid.UUID(int=3), version("laptop", content=b"")))


async def test_a_resolution_never_overwrites_a_version_written_after_the_conflict(container, user):
    await container.push_entry()(user, upload(E1, version("laptop")))
    with pytest.raises(EntryConflict) as err:
        await container.push_entry()(user, upload(E1, version("phone")))
    newer = version("laptop")
    await container.push_entry()(user, upload(E1, newer))  # revision 2, after the conflict
    with pytest.raises(StaleResolution, match="changed since"):
        await container.resolve_conflict()(user, err.value.conflict_id, Resolution.LOCAL)
    [view] = (await container.list_conflicts()(user)).conflicts
    assert view.remote.version.content == newer.content  # nothing was lost
    # Looked at again, the conflict resolves against revision 2.
    entry = await container.resolve_conflict()(
        user, err.value.conflict_id, Resolution.LOCAL, remote_revision=2
    )
    assert entry.revision == 3


async def test_a_client_naming_a_stale_remote_revision_is_refused(container, user):
    await container.push_entry()(user, upload(E1, version("laptop")))
    with pytest.raises(EntryConflict) as err:
        await container.push_entry()(user, upload(E1, version("phone")))
    with pytest.raises(StaleResolution):
        await container.resolve_conflict()(
            user,
            err.value.conflict_id,
            Resolution.MERGED,
            MergedVersion(b"m", b"m" * 12),
            remote_revision=0,
        )


async def test_a_resolution_decided_on_an_older_local_side_is_refused(container, user):
    await container.push_entry()(user, upload(E1, version("laptop")))
    with pytest.raises(EntryConflict) as err:
        await container.push_entry()(user, upload(E1, version("phone")))
    [shown] = (await container.list_conflicts()(user)).conflicts
    with pytest.raises(EntryConflict):
        await container.push_entry()(user, upload(E1, version("phone")))  # the phone's newer edit
    for choice in (Resolution.REMOTE, Resolution.LOCAL):
        with pytest.raises(StaleResolution, match="changed since"):
            await container.resolve_conflict()(
                user,
                err.value.conflict_id,
                choice,
                remote_revision=shown.remote.revision,
                generation=shown.conflict.generation,
            )
    [now] = (await container.list_conflicts()(user)).conflicts
    assert now.conflict.generation == shown.conflict.generation + 1
    await container.resolve_conflict()(
        user,
        err.value.conflict_id,
        Resolution.REMOTE,
        remote_revision=now.remote.revision,
        generation=now.conflict.generation,
    )


async def test_listing_a_conflict_confirms_it_so_the_first_resolution_applies(container, user):
    """The web client: its retries refresh the conflict with fresh IVs, the user lists
    conflicts, then resolves without naming revisions: the first resolution applies."""
    await container.push_entry()(user, upload(E1, version("laptop")))
    for _ in range(3):  # the first upload and two retries, each re-encrypted
        with pytest.raises(EntryConflict) as err:
            await container.push_entry()(user, upload(E1, version("phone")))
    [view] = (await container.list_conflicts()(user)).conflicts
    assert view.conflict.generation == 3 and view.conflict.remote_revision == 1
    entry = await container.resolve_conflict()(user, err.value.conflict_id, Resolution.LOCAL)
    assert entry.revision == 2 and entry.version.content == view.conflict.local.content


async def test_a_resolution_decided_on_an_older_listing_is_refused_until_listed_again(
    container, user
):
    await container.push_entry()(user, upload(E1, version("laptop")))
    with pytest.raises(EntryConflict) as err:
        await container.push_entry()(user, upload(E1, version("phone")))
    await container.list_conflicts()(user)
    await container.push_entry()(
        user, upload(E1, version("laptop"))
    )  # the entry moves on: revision 2
    for _ in range(2):  # a refusal shows nothing, so it confirms nothing
        with pytest.raises(StaleResolution) as stale:
            await container.resolve_conflict()(
                user, err.value.conflict_id, Resolution.MERGED, MergedVersion(b"m", b"m" * 12)
            )
        assert stale.value.conflict_id == err.value.conflict_id
    with pytest.raises(EntryConflict):  # the phone's local side changes too
        await container.push_entry()(user, upload(E1, version("phone")))
    with pytest.raises(StaleResolution):
        await container.resolve_conflict()(user, err.value.conflict_id, Resolution.REMOTE)
    [view] = (await container.list_conflicts()(user)).conflicts
    assert view.remote.revision == 2
    entry = await container.resolve_conflict()(user, err.value.conflict_id, Resolution.REMOTE)
    assert entry.revision == 2
