"""Revision history over the memory adapters: what is kept, retention by count and by age
(the clock is injected), the quota, restoring, and everything that removes history."""

import uuid
from datetime import timedelta

import pytest
from dependency_injector import providers

from reflective_adapters.memory import MemoryStore, MemoryUnitOfWork
from reflective_app.container import Container
from reflective_domain.entries import (
    ROW_OVERHEAD_BYTES,
    EntryLimits,
    Outcome,
    Resolution,
    Retention,
    history_size,
    stored_size,
)
from reflective_domain.errors import EntryConflict, LimitExceeded, NotFound, ValidationFailed
from reflective_domain.tiers import PrivacyTier
from reflective_domain.use_cases.conflicts import MergedVersion
from tests.composition import PASSWORD, memory_container, new_user
from tests.entries import upload, version

E1 = uuid.UUID(int=2001)
E2 = uuid.UUID(int=2002)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def container(store: MemoryStore) -> Container:
    """The server's container on ``store`` (which the removal test reads directly)."""
    return memory_container(lambda: MemoryUnitOfWork(store))


@pytest.fixture
async def user(container: Container) -> uuid.UUID:
    return await new_user(container, tier=PrivacyTier.FULL_SYNC)


def use_limits(container: Container, limits: EntryLimits) -> None:
    """Every use case built from now on enforces ``limits`` (size, quota and retention)."""
    container.entry_limits.override(providers.Object(limits))


async def kept(container: Container, user: uuid.UUID, entry_id: uuid.UUID = E1) -> list[bytes]:
    """The entry's kept ciphertexts, newest first."""
    page = await container.list_revisions()(user, entry_id, limit=500)
    return [r.content for r in page.revisions]


async def counter_and_real(container: Container, user: uuid.UUID) -> tuple[int, int]:
    async with container.uow_factory()() as uow:
        state = await uow.users.state(user)
        entries = await uow.entries.all(user)
        conflicts = await uow.conflicts.all(user)
        history = await uow.entries.revisions_page(user, None, 10_000)
    assert state is not None
    real = sum(stored_size(e.version) for e in entries)
    real += sum(stored_size(c.local) for c in conflicts)  # resolved ones keep their row
    real += sum(r.size for r in history)
    return state.stored_bytes, real


async def test_an_accepted_edit_keeps_the_version_it_replaces(container, user):
    v1, v2, v3 = version("phone"), version("phone"), version("laptop")
    await container.push_entry()(user, upload(E1, v1))
    assert await kept(container, user) == []
    await container.push_entry()(user, upload(E1, v2))
    container.clock().advance(minutes=5)
    await container.push_entry()(user, upload(E1, v3, base=2))
    page = await container.list_revisions()(user, E1)
    assert [r.revision for r in page.revisions] == [2, 1]  # newest first
    newest = page.revisions[0]
    assert (newest.content, newest.iv, newest.tag) == (v2.content, v2.iv, v2.tag)
    assert newest.device_id == "phone"
    assert newest.replaced_at == container.clock().now()
    assert page.revisions[1].replaced_at == container.clock().now() - timedelta(minutes=5)
    counter, real = await counter_and_real(container, user)
    assert counter == real


async def test_a_retry_a_conflict_and_a_remote_resolution_keep_nothing(container, user):
    v1 = version("phone")
    await container.push_entry()(user, upload(E1, v1))
    assert (await container.push_entry()(user, upload(E1, v1))).outcome is Outcome.UNCHANGED
    with pytest.raises(EntryConflict) as err:
        await container.push_entry()(user, upload(E1, version("laptop")))
    await container.list_conflicts()(user)
    await container.resolve_conflict()(user, err.value.conflict_id, Resolution.REMOTE)
    assert await kept(container, user) == []


@pytest.mark.parametrize("choice", [Resolution.LOCAL, Resolution.MERGED])
async def test_a_local_or_merged_resolution_keeps_the_version_it_replaces(container, user, choice):
    mine = version("phone")
    await container.push_entry()(user, upload(E1, mine))
    with pytest.raises(EntryConflict) as err:
        await container.push_entry()(user, upload(E1, version("laptop")))
    await container.list_conflicts()(user)
    merged = MergedVersion(b"merged", b"m" * 12) if choice is Resolution.MERGED else None
    await container.resolve_conflict()(user, err.value.conflict_id, choice, merged)
    assert await kept(container, user) == [mine.content]
    counter, real = await counter_and_real(container, user)
    assert counter == real


async def test_a_delete_keeps_the_last_version_and_a_restore_brings_it_back(container, user):
    v1 = version("phone")
    await container.push_entry()(user, upload(E1, v1))
    await container.delete_entry()(user, E1, "laptop")
    page = await container.list_revisions()(user, E1)
    assert [(r.revision, r.content) for r in page.revisions] == [(1, v1.content)]
    # Restoring is an ordinary upload of that version (encrypted again) on top of revision 2.
    again = version("laptop", content=page.revisions[0].content)
    restored = await container.push_entry()(user, upload(E1, again, base=2))
    assert restored.outcome is Outcome.ACCEPTED and restored.entry.revision == 3
    assert restored.entry.version is not None
    assert restored.entry.version.content == v1.content
    # Writing over the tombstone kept nothing more: a tombstone is no version.
    assert [r.revision for r in (await container.list_revisions()(user, E1)).revisions] == [1]


async def test_retention_by_count_keeps_the_newest(container, user):
    use_limits(container, EntryLimits(retention=Retention(max_per_entry=3)))
    versions = [version("phone") for _ in range(6)]
    for v in versions:
        await container.push_entry()(user, upload(E1, v))
    # Revisions 1..5 were replaced; the newest three stay.
    page = await container.list_revisions()(user, E1)
    assert [r.revision for r in page.revisions] == [5, 4, 3]
    assert [r.content for r in page.revisions] == [v.content for v in versions[4:1:-1]]
    counter, real = await counter_and_real(container, user)
    assert counter == real


async def test_retention_by_age_drops_versions_replaced_before_the_cutoff(container, user):
    use_limits(container, EntryLimits(retention=Retention(max_per_entry=20, days=7)))
    await container.push_entry()(user, upload(E1, version("phone")))
    await container.push_entry()(user, upload(E1, version("phone")))  # revision 1 kept now
    container.clock().advance(days=5)
    await container.push_entry()(user, upload(E1, version("phone")))  # revision 2 kept 5 days later
    container.clock().advance(days=2, seconds=1)  # revision 1 is now 7 days and a second old
    await container.push_entry()(user, upload(E1, version("phone")))
    assert [r.revision for r in (await container.list_revisions()(user, E1)).revisions] == [3, 2]
    counter, real = await counter_and_real(container, user)
    assert counter == real


async def test_history_off_keeps_nothing_and_drops_what_was_kept(container, user):
    await container.push_entry()(user, upload(E1, version("phone")))
    await container.push_entry()(user, upload(E1, version("phone")))
    assert len(await kept(container, user)) == 1
    use_limits(container, EntryLimits(retention=Retention(max_per_entry=0)))
    await container.push_entry()(user, upload(E1, version("phone")))
    assert await kept(container, user) == []
    counter, real = await counter_and_real(container, user)
    assert counter == real


async def test_kept_versions_count_toward_the_quota(container, user):
    room = 2 * ROW_OVERHEAD_BYTES + 2 * 60
    use_limits(container, EntryLimits(max_user_bytes=room))
    await container.push_entry()(user, upload(E1, version("phone", content=b"a" * 60)))
    # The edit would keep the 60-byte version beside the new one: 2 rows + 120 bytes fit.
    await container.push_entry()(user, upload(E1, version("phone", content=b"b" * 60)))
    assert (await counter_and_real(container, user))[0] == room
    # A third would keep one more: 413, nothing written.
    with pytest.raises(LimitExceeded, match="quota"):
        await container.push_entry()(user, upload(E1, version("phone", content=b"c" * 60)))
    assert len(await kept(container, user)) == 1
    # Deleting the history makes room again.
    freed = await container.delete_revisions()(user, E1)
    assert freed == history_size(60)
    await container.push_entry()(user, upload(E1, version("phone", content=b"c" * 60)))
    counter, real = await counter_and_real(container, user)
    assert counter == real == room


async def test_retention_prunes_before_the_quota_check(container, user):
    # One kept version per entry: an edit keeps the replaced one and drops the older one, so
    # it fits where keeping both would not.
    room = 2 * ROW_OVERHEAD_BYTES + 2 * 60
    use_limits(container, EntryLimits(max_user_bytes=room, retention=Retention(max_per_entry=1)))
    for fill in (b"a", b"b", b"c", b"d"):
        await container.push_entry()(user, upload(E1, version("phone", content=fill * 60)))
    assert await kept(container, user) == [b"c" * 60]
    counter, real = await counter_and_real(container, user)
    assert counter == real == room


async def test_history_pages_by_cursor(container, user):
    for _ in range(6):
        await container.push_entry()(user, upload(E1, version("phone")))
    first = await container.list_revisions()(user, E1, limit=2)
    assert [r.revision for r in first.revisions] == [5, 4]
    assert first.has_more and first.next_cursor == 4
    second = await container.list_revisions()(user, E1, before=first.next_cursor, limit=2)
    assert [r.revision for r in second.revisions] == [3, 2]
    last = await container.list_revisions()(user, E1, before=second.next_cursor, limit=2)
    assert [r.revision for r in last.revisions] == [1]
    assert not last.has_more and last.next_cursor is None
    with pytest.raises(ValidationFailed):
        await container.list_revisions()(user, E1, before=0)


async def test_another_users_entry_has_no_history_to_read_or_delete(container, user):
    await container.push_entry()(user, upload(E1, version("phone")))
    await container.push_entry()(user, upload(E1, version("phone")))
    eve = await new_user(container, "eve@example.com", PrivacyTier.FULL_SYNC)
    with pytest.raises(NotFound):
        await container.list_revisions()(eve, E1)
    with pytest.raises(NotFound):
        await container.delete_revisions()(eve, E1)
    with pytest.raises(NotFound):
        await container.list_revisions()(user, E2)  # unknown entry
    assert len(await kept(container, user)) == 1


async def test_a_batch_keeps_what_its_edits_replace(container, user):
    v1 = version("phone")
    await container.push_entry()(user, upload(E1, v1))
    results = await container.push_batch()(
        user, [upload(E1, version("phone")), upload(E2, version("phone"))]
    )
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.CREATED]
    assert await kept(container, user) == [v1.content]
    assert await kept(container, user, E2) == []
    counter, real = await counter_and_real(container, user)
    assert counter == real


async def test_delete_all_the_downgrade_and_account_deletion_remove_history(container, user, store):
    async def history_rows() -> int:
        return len(store.tables.history)

    await container.push_entry()(user, upload(E1, version("phone")))
    await container.push_entry()(user, upload(E1, version("phone")))
    assert await history_rows() == 1
    await container.delete_all_entries()(user)
    assert await history_rows() == 0
    assert await counter_and_real(container, user) == (0, 0)

    await container.push_entry()(user, upload(E1, version("phone")))
    await container.push_entry()(user, upload(E1, version("phone")))
    await container.change_tier()(user, PrivacyTier.ANALYTICS_SYNC)
    assert await history_rows() == 0

    await container.change_tier()(user, PrivacyTier.FULL_SYNC, container.clock().now(), b"PK-1")
    await container.push_entry()(user, upload(E1, version("phone")))
    await container.push_entry()(user, upload(E1, version("phone")))
    assert await history_rows() == 1
    await container.delete_account()(user, PASSWORD)
    assert await history_rows() == 0


async def test_the_export_includes_history(container, user):
    v1 = version("phone")
    await container.push_entry()(user, upload(E1, v1))
    await container.push_entry()(user, upload(E1, version("phone")))
    bundle = await container.export_data()(user)
    assert [(r.entry_id, r.revision, r.content) for r in bundle.revisions] == [(E1, 1, v1.content)]
