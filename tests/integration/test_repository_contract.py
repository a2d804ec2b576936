"""The repository ports' contract, run against both adapters (``uow_factory`` is parametrized
over memory and PostgreSQL): whatever passes here behaves the same on either."""

from __future__ import annotations

import os
import uuid
from dataclasses import fields
from datetime import date, datetime, timedelta, timezone

import pytest

from reflective_domain.accounts import Preferences, User
from reflective_domain.entries import Conflict, Entry, EntryVersion, Resolution
from reflective_domain.errors import AlreadyExists, ConcurrentUpdate
from reflective_domain.he_params import CkksParameters, HePublicKey
from reflective_domain.metrics import EncryptedMetric, Period, Rollup
from reflective_domain.packed import (
    PACKED_ROW_OVERHEAD_BYTES,
    PACKED_UPLOAD_KEY_BYTES,
    PackedWindow,
)
from reflective_domain.sessions import RefreshToken
from reflective_domain.tags import Tag
from reflective_domain.tiers import PrivacyTier
from tests.integration.conftest import UowFactory

UTC = timezone.utc
PLUS2 = timezone(timedelta(hours=2))
DAY, MONTH = Period.DAY, Period.MONTH
T0 = datetime(2026, 11, 1, 9, 30, 15, 123456, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def new_user(email: str = "ada@example.com", **fields: object) -> User:
    return User(
        id=uuid.uuid4(),
        email=email,
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        created_at=T0,
        updated_at=T0,
        **fields,  # type: ignore[arg-type]
    )


async def add_user(uow_factory: UowFactory, email: str = "ada@example.com") -> User:
    user = new_user(email)
    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.commit()
    return user


_n = 0


def version(
    device: str = "phone",
    *,
    content: bytes | None = None,
    embedding: bool = False,
    moment: datetime = T0,
) -> EntryVersion:
    global _n
    _n += 1
    return EntryVersion(
        content=content if content is not None else os.urandom(64) + f"#{_n}".encode(),
        iv=os.urandom(12),
        tag=os.urandom(16),
        created_at=moment,
        updated_at=moment + timedelta(seconds=5),
        device_id=device,
        embedding=os.urandom(300) if embedding else None,
        embedding_iv=os.urandom(16) if embedding else None,
    )


def new_entry(user: User, seq: int, *, synced: datetime = T0, **kw: object) -> Entry:
    return Entry.create(uuid.uuid4(), user.id, version(**kw), seq, synced)  # type: ignore[arg-type]


# ---------------------------------------------------------------- unit of work


async def test_leaving_without_commit_rolls_back(uow_factory: UowFactory) -> None:
    user = new_user()
    async with uow_factory() as uow:
        await uow.users.add(user)
    async with uow_factory() as uow:
        assert await uow.users.get(user.id) is None


async def test_an_exception_rolls_back_everything(uow_factory: UowFactory) -> None:
    user = await add_user(uow_factory)
    with pytest.raises(RuntimeError):
        async with uow_factory() as uow:
            await uow.users.next_change_seq(user.id)
            await uow.entries.add(new_entry(user, 1))
            await uow.tags.add_or_get(Tag.new(uuid.uuid4(), user.id, "work", None, T0))
            raise RuntimeError("boom")
    async with uow_factory() as uow:
        assert await uow.users.current_change_seq(user.id) == 0
        assert await uow.entries.all(user.id) == []
        assert await uow.tags.list(user.id) == []


async def test_rollback_then_continue(uow_factory: UowFactory) -> None:
    first, second = new_user("a@example.com"), new_user("b@example.com")
    async with uow_factory() as uow:
        await uow.users.add(first)
        await uow.rollback()
        await uow.users.add(second)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.users.get(first.id) is None
        assert await uow.users.get(second.id) is not None


async def test_work_after_commit_needs_its_own_commit(uow_factory: UowFactory) -> None:
    first, second = new_user("a@example.com"), new_user("b@example.com")
    async with uow_factory() as uow:
        await uow.users.add(first)
        await uow.commit()
        await uow.users.add(second)
    async with uow_factory() as uow:
        assert await uow.users.get(first.id) is not None
        assert await uow.users.get(second.id) is None


# ---------------------------------------------------------------- users


async def test_user_round_trips_every_field(uow_factory: UowFactory) -> None:
    key = HePublicKey(os.urandom(200_000), CkksParameters(16384, (60, 40, 40, 40, 60), 2.0**40))
    user = new_user(
        "grace@example.com",
        display_name="Grace Hopper",
        preferences=Preferences(
            timezone="Europe/Paris",
            locale="fr-FR",
            daily_word_goal=1200,
            writing_reminder_time="21:45",
            theme_preferences={"mode": "dark", "accent": "#FFAA00"},
            ai_features_enabled=False,
        ),
        privacy_tier=PrivacyTier.FULL_SYNC,
        he_public_key=key,
        consent_at=datetime(2026, 10, 1, 8, 0, 0, 1, tzinfo=PLUS2),
        sync_enabled_at=datetime(2026, 10, 1, 6, 0, 1, tzinfo=UTC),
        sessions_revoked_at=datetime(2026, 10, 2, 7, 0, 0, 999, tzinfo=PLUS2),
        version=7,
        disabled=True,
    )
    # Every optional field is set, so a field added to User fails here until it round-trips.
    defaults = User(user.id, user.email, user.password_hash, T0, T0)
    unset = [f.name for f in fields(User) if getattr(user, f.name) == getattr(defaults, f.name)]
    assert unset == ["id", "email", "password_hash", "created_at", "updated_at"]
    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.commit()
    async with uow_factory() as uow:
        by_id = await uow.users.get(user.id)
        by_email = await uow.users.get_by_email("grace@example.com")
    assert by_id == user
    assert by_email == user
    assert by_id is not None and by_id.consent_at is not None
    assert by_id.consent_at.utcoffset() is not None  # aware, same instant


async def test_user_defaults_round_trip(uow_factory: UowFactory) -> None:
    user = await add_user(uow_factory)
    async with uow_factory() as uow:
        stored = await uow.users.get(user.id)
    assert stored == user
    assert stored is not None and stored.he_public_key is None


async def test_unknown_user_is_none(uow_factory: UowFactory) -> None:
    await add_user(uow_factory)
    async with uow_factory() as uow:
        assert await uow.users.get(uuid.uuid4()) is None
        assert await uow.users.get_by_email("nobody@example.com") is None


async def test_duplicate_email_on_add(uow_factory: UowFactory) -> None:
    await add_user(uow_factory, "ada@example.com")
    other = new_user("b@example.com")
    async with uow_factory() as uow:
        with pytest.raises(AlreadyExists, match="Email already registered"):
            await uow.users.add(new_user("ada@example.com"))
        # The failure leaves the transaction usable.
        await uow.users.add(other)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.users.get(other.id) is not None


async def test_save_persists_changes_and_versions(uow_factory: UowFactory) -> None:
    user = await add_user(uow_factory)
    async with uow_factory() as uow:
        loaded = await uow.users.get(user.id)
        assert loaded is not None
        loaded.rename("Ada L.", at(1))
        loaded.update_preferences(at(2), daily_word_goal=300, theme_preferences={"a": "b"})
        await uow.users.save(loaded)
        # A second save in the same unit of work builds on the first.
        loaded.change_email("ada.l@example.com", at(3))
        await uow.users.save(loaded)
        await uow.commit()
    async with uow_factory() as uow:
        stored = await uow.users.get(user.id)
    assert stored == loaded
    assert stored is not None and stored.version == user.version + 3


async def test_duplicate_email_on_save(uow_factory: UowFactory) -> None:
    await add_user(uow_factory, "taken@example.com")
    user = await add_user(uow_factory, "mine@example.com")
    async with uow_factory() as uow:
        loaded = await uow.users.get(user.id)
        assert loaded is not None
        loaded.change_email("taken@example.com", at(1))
        with pytest.raises(AlreadyExists, match="Email already registered"):
            await uow.users.save(loaded)
        loaded.change_email("free@example.com", at(2))
        await uow.users.save(loaded)
        await uow.commit()
    async with uow_factory() as uow:
        stored = await uow.users.get(user.id)
        assert stored is not None and stored.email == "free@example.com"


async def test_save_of_a_deleted_user_is_a_concurrent_update(uow_factory: UowFactory) -> None:
    user = await add_user(uow_factory)
    async with uow_factory() as uow:
        loaded = await uow.users.get(user.id)
        assert loaded is not None
        await uow.users.delete(user.id)
        loaded.rename("ghost", at(1))
        with pytest.raises(ConcurrentUpdate):
            await uow.users.save(loaded)


async def test_change_seq_counts_per_user_and_rolls_back(uow_factory: UowFactory) -> None:
    ada, bob = (
        await add_user(uow_factory, "ada@example.com"),
        await add_user(uow_factory, "bob@example.com"),
    )
    async with uow_factory() as uow:
        await uow.users.lock(ada.id)
        assert [await uow.users.next_change_seq(ada.id) for _ in range(3)] == [1, 2, 3]
        assert await uow.users.next_change_seq(bob.id) == 1
        assert await uow.users.current_change_seq(ada.id) == 3
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.users.next_change_seq(ada.id) == 4  # not committed
    async with uow_factory() as uow:
        assert await uow.users.current_change_seq(ada.id) == 3
        assert await uow.users.next_change_seq(ada.id) == 4
        assert await uow.users.current_change_seq(uuid.uuid4()) == 0
        await uow.users.lock(uuid.uuid4())  # unknown user: nothing to lock, no error


async def test_creating_an_entry_moves_the_sequence_and_the_bytes_in_one_write(
    uow_factory: UowFactory,
) -> None:
    ada = await add_user(uow_factory)
    first = new_entry(ada, 1)
    assert first.version is not None
    async with uow_factory() as uow:
        await uow.users.lock(ada.id)
        await uow.entries.create(first, first.version.fingerprint, 100)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.users.current_change_seq(ada.id) == 1
        state = await uow.users.state(ada.id)
        assert state is not None and state.stored_bytes == 100
        assert await uow.entries.get(ada.id, first.id) == first
        found = await uow.entries.revision_with(ada.id, first.id, first.version.fingerprint)
        assert found == first.revision
    # A number that does not follow the sequence (the caller did not hold the user's lock, or
    # read it before another writer): refused, and nothing written.
    stale = new_entry(ada, 1)
    assert stale.version is not None
    async with uow_factory() as uow:
        with pytest.raises(ConcurrentUpdate):
            await uow.entries.create(stale, stale.version.fingerprint, 100)
    # An id already taken: AlreadyExists, and the transaction is not committed.
    taken = Entry.create(first.id, ada.id, first.version, 2, T0)
    async with uow_factory() as uow:
        with pytest.raises(AlreadyExists):
            await uow.entries.create(taken, first.version.fingerprint, 100)
    async with uow_factory() as uow:
        assert await uow.users.current_change_seq(ada.id) == 1
        state = await uow.users.state(ada.id)
        assert state is not None and state.stored_bytes == 100
        assert await uow.entries.get(ada.id, stale.id) is None


async def test_delete_user_removes_all_their_data(uow_factory: UowFactory) -> None:
    ada, bob = (
        await add_user(uow_factory, "ada@example.com"),
        await add_user(uow_factory, "bob@example.com"),
    )
    for user in (ada, bob):
        await _fill(uow_factory, user)
    async with uow_factory() as uow:
        await uow.users.delete(ada.id)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.users.get(ada.id) is None
    assert await _inventory(uow_factory, ada) == (0, 0, 0, 0, 0, 0, None, None)
    assert await _inventory(uow_factory, bob) == (1, 1, 1, 1, 1, 1, 1, 2)


async def _fill(uow_factory: UowFactory, user: User) -> None:
    async with uow_factory() as uow:
        seq = await uow.users.next_change_seq(user.id)
        entry = new_entry(user, seq)
        await uow.entries.add(entry)
        assert entry.version is not None
        await uow.entries.remember_revision(entry, entry.version.fingerprint)
        await uow.conflicts.add(_conflict(user, entry))
        await uow.deliveries.record(user.id, "tablet", [(entry.id, 2)])
        await uow.tags.add_or_get(Tag.new(uuid.uuid4(), user.id, "work", None, T0))
        await uow.metrics.add_many([_metric(user, at(1))])
        await uow.metrics.save_rollups([Rollup(user.id, "word_count", DAY, T0.date(), 1, b"r")])
        await uow.refresh_tokens.add(_token(user))
        await uow.commit()
        _fill_ids[user.id] = entry


_fill_ids: dict[uuid.UUID, Entry] = {}


async def _inventory(uow_factory: UowFactory, user: User) -> tuple[object, ...]:
    entry = _fill_ids[user.id]
    async with uow_factory() as uow:
        assert entry.version is not None
        return (
            len(await uow.entries.all(user.id)),
            len(await uow.conflicts.all(user.id)),
            len(await uow.tags.list(user.id)),
            await uow.metrics.count(user.id),
            len(await uow.metrics.rollups_between(user.id, "word_count", DAY, None, None)),
            int(await uow.refresh_tokens.by_hash(_hash(user)) is not None),
            await uow.entries.revision_with(user.id, entry.id, entry.version.fingerprint),
            await uow.deliveries.delivered_revision(user.id, "tablet", entry.id),
        )


# ---------------------------------------------------------------- tags


async def test_tag_add_or_get_dedupes_by_normalised_name(uow_factory: UowFactory) -> None:
    user = await add_user(uow_factory)
    first = Tag.new(uuid.uuid4(), user.id, "Deep  Work", "#aabbcc", at(1))
    async with uow_factory() as uow:
        stored, created = await uow.tags.add_or_get(first)
        again, created_again = await uow.tags.add_or_get(
            Tag.new(uuid.uuid4(), user.id, " deep work ", None, at(2))
        )
        await uow.commit()
    assert created and stored == first
    assert not created_again and again == first
    async with uow_factory() as uow:
        assert await uow.tags.list(user.id) == [first]
        assert await uow.tags.get(user.id, first.id) == first


async def test_tags_are_per_user(uow_factory: UowFactory) -> None:
    ada, bob = (
        await add_user(uow_factory, "ada@example.com"),
        await add_user(uow_factory, "bob@example.com"),
    )
    async with uow_factory() as uow:
        ada_tag, _ = await uow.tags.add_or_get(Tag.new(uuid.uuid4(), ada.id, "work", None, T0))
        bob_tag, created = await uow.tags.add_or_get(
            Tag.new(uuid.uuid4(), bob.id, "Work", None, T0)
        )
        await uow.commit()
    assert created and bob_tag.id != ada_tag.id
    async with uow_factory() as uow:
        assert await uow.tags.get(bob.id, ada_tag.id) is None
        assert await uow.tags.list(bob.id) == [bob_tag]
        assert not await uow.tags.delete(bob.id, ada_tag.id)
        assert await uow.tags.delete_unused_since(bob.id, at(1)) == 1
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.tags.list(ada.id) == [ada_tag]


async def test_tags_list_by_normalised_name(uow_factory: UowFactory) -> None:
    user = await add_user(uow_factory)
    names = ["zebra", "Äpfel", "apple", "Banana", "ábc", "Zz", "10 things", "émigré"]
    async with uow_factory() as uow:
        for name in names:
            await uow.tags.add_or_get(Tag.new(uuid.uuid4(), user.id, name, None, T0))
        await uow.commit()
    async with uow_factory() as uow:
        listed = [t.name for t in await uow.tags.list(user.id)]
    assert listed == sorted(names, key=lambda n: n.casefold())


async def test_tag_save_rename_recolour_and_collision(uow_factory: UowFactory) -> None:
    user = await add_user(uow_factory)
    work = Tag.new(uuid.uuid4(), user.id, "work", None, T0)
    home = Tag.new(uuid.uuid4(), user.id, "home", None, T0)
    async with uow_factory() as uow:
        await uow.tags.add_or_get(work)
        await uow.tags.add_or_get(home)
        await uow.commit()
    async with uow_factory() as uow:
        home.rename("WORK")
        with pytest.raises(AlreadyExists):
            await uow.tags.save(home)
        home.rename("House")
        home.recolour("#123abc")
        home.mark_used(at(5))
        await uow.tags.save(home)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.tags.get(user.id, home.id) == home
        stored, created = await uow.tags.add_or_get(
            Tag.new(uuid.uuid4(), user.id, "house", None, T0)
        )
    assert not created and stored.id == home.id and stored.color == "#123ABC"


async def test_tag_delete_and_cleanup(uow_factory: UowFactory) -> None:
    user = await add_user(uow_factory)
    used_late = Tag.new(uuid.uuid4(), user.id, "late", None, at(0))
    used_late.mark_used(at(100))
    never_used = Tag(uuid.uuid4(), user.id, "never", "#000000", at(10), None)
    boundary = Tag.new(uuid.uuid4(), user.id, "boundary", None, at(50))
    doomed = Tag.new(uuid.uuid4(), user.id, "doomed", None, at(0))
    async with uow_factory() as uow:
        for tag in (used_late, never_used, boundary, doomed):
            await uow.tags.add_or_get(tag)
        assert await uow.tags.delete(user.id, doomed.id)
        assert not await uow.tags.delete(user.id, doomed.id)
        assert await uow.tags.delete_unused_since(user.id, at(50)) == 2  # never, boundary
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.tags.list(user.id) == [used_late]


# ---------------------------------------------------------------- entries


async def test_entry_round_trips_every_field(uow_factory: UowFactory) -> None:
    user = await add_user(uow_factory)
    big = os.urandom(600_000)
    full = Entry.create(
        uuid.uuid4(),
        user.id,
        version("laptop", content=big, embedding=True, moment=datetime(2026, 1, 2, tzinfo=PLUS2)),
        1,
        at(1),
    )
    bare = Entry.create(uuid.uuid4(), user.id, version("phone"), 2, at(2))
    assert bare.version is not None
    bare.version = EntryVersion(
        bare.version.content,
        bare.version.iv,
        None,
        T0,
        T0,
        "phone",  # no GCM tag
    )
    async with uow_factory() as uow:
        await uow.entries.add(full)
        await uow.entries.add(bare)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.entries.get(user.id, full.id) == full
        assert await uow.entries.get(user.id, bare.id) == bare
        assert await uow.entries.get(user.id, uuid.uuid4()) is None


async def test_entry_add_twice_is_refused(uow_factory: UowFactory) -> None:
    user = await add_user(uow_factory)
    entry = new_entry(user, 1)
    async with uow_factory() as uow:
        await uow.entries.add(entry)
        with pytest.raises(AlreadyExists):
            await uow.entries.add(entry)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.entries.get(user.id, entry.id) == entry


async def test_entry_save_writes_and_tombstones(uow_factory: UowFactory) -> None:
    user = await add_user(uow_factory)
    entry = new_entry(user, 1)
    async with uow_factory() as uow:
        await uow.entries.add(entry)
        await uow.commit()
    newer = version("tablet", embedding=True)
    async with uow_factory() as uow:
        loaded = await uow.entries.get(user.id, entry.id)
        assert loaded is not None
        loaded.write(newer, 2, at(5))
        await uow.entries.save(loaded)
        await uow.commit()
    async with uow_factory() as uow:
        stored = await uow.entries.get(user.id, entry.id)
        assert stored == loaded and stored is not None
        assert (stored.revision, stored.change_seq, stored.device_id) == (2, 2, "tablet")
        stored.delete("phone", 3, at(9))
        await uow.entries.save(stored)
        await uow.commit()
    async with uow_factory() as uow:
        tomb = await uow.entries.get(user.id, entry.id)
    assert tomb == stored
    assert tomb is not None and tomb.deleted and tomb.version is None
    assert (tomb.revision, tomb.change_seq, tomb.device_id, tomb.synced_at) == (
        3,
        3,
        "phone",
        at(9),
    )


async def test_revision_fingerprints(uow_factory: UowFactory) -> None:
    ada, bob = (
        await add_user(uow_factory, "ada@example.com"),
        await add_user(uow_factory, "bob@example.com"),
    )
    entry = new_entry(ada, 1)
    other = new_entry(ada, 2)
    async with uow_factory() as uow:
        await uow.entries.add(entry)
        await uow.entries.remember_revision(entry, b"f1")
        entry.write(version(), 3, at(1))
        await uow.entries.remember_revision(entry, b"f2")
        await uow.entries.remember_revision(entry, b"f1")  # the first answer stays
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.entries.revision_with(ada.id, entry.id, b"f1") == 1
        assert await uow.entries.revision_with(ada.id, entry.id, b"f2") == 2
        assert await uow.entries.revision_with(ada.id, entry.id, b"f3") is None
        assert await uow.entries.revision_with(ada.id, other.id, b"f1") is None
        assert await uow.entries.revision_with(bob.id, entry.id, b"f1") is None


async def test_changes_after_in_change_order_with_tombstones(uow_factory: UowFactory) -> None:
    ada, bob = (
        await add_user(uow_factory, "ada@example.com"),
        await add_user(uow_factory, "bob@example.com"),
    )
    a, b, c = new_entry(ada, 1), new_entry(ada, 2), new_entry(ada, 3)
    async with uow_factory() as uow:
        for entry in (c, a, b):
            await uow.entries.add(entry)
        await uow.entries.add(new_entry(bob, 4))
        a.delete("phone", 4, at(1))  # a moves to the end of the feed
        await uow.entries.save(a)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.entries.changes_after(ada.id, 0, 10) == [b, c, a]
        assert await uow.entries.changes_after(ada.id, 2, 10) == [c, a]
        assert await uow.entries.changes_after(ada.id, 0, 2) == [b, c]
        assert await uow.entries.changes_after(ada.id, 4, 10) == []
        assert await uow.entries.all(ada.id) == [b, c, a]
        assert [e.change_seq for e in await uow.entries.all(bob.id)] == [4]


async def test_list_live_filters_orders_and_pages(uow_factory: UowFactory) -> None:
    ada, bob = (
        await add_user(uow_factory, "ada@example.com"),
        await add_user(uow_factory, "bob@example.com"),
    )
    same_time = [new_entry(ada, i, synced=at(10), device="phone") for i in (1, 2, 3)]
    early = new_entry(ada, 4, synced=at(5), device="laptop")
    late = new_entry(ada, 5, synced=at(20), device="laptop")
    dead = new_entry(ada, 6, synced=at(1))
    async with uow_factory() as uow:
        for entry in [*same_time, early, late, dead, new_entry(bob, 7, synced=at(15))]:
            await uow.entries.add(entry)
        dead.delete("phone", 8, at(30))
        await uow.entries.save(dead)
        await uow.commit()
    expected = [early, *sorted(same_time, key=lambda e: e.id), late]

    async def page(**kw: object) -> tuple[list[Entry], int]:
        params: dict[str, object] = {
            "synced_after": None,
            "exclude_device": None,
            "limit": 100,
            "offset": 0,
        }
        params.update(kw)
        async with uow_factory() as uow:
            return await uow.entries.list_live(ada.id, **params)  # type: ignore[arg-type]

    assert await page() == (expected, 5)
    assert await page(limit=2) == (expected[:2], 5)
    assert await page(limit=2, offset=2) == (expected[2:4], 5)
    assert await page(offset=10) == ([], 5)
    assert await page(synced_after=at(10)) == ([late], 1)  # strictly after
    assert await page(synced_after=at(9)) == (expected[1:], 4)
    assert await page(exclude_device="phone") == ([early, late], 2)
    assert await page(exclude_device="laptop", synced_after=at(0), limit=1) == (expected[1:2], 3)


async def test_counts_sizes_and_creation_times(uow_factory: UowFactory) -> None:
    ada, bob = (
        await add_user(uow_factory, "ada@example.com"),
        await add_user(uow_factory, "bob@example.com"),
    )
    plain = new_entry(ada, 1, moment=at(-60))
    rich = new_entry(ada, 2, embedding=True, moment=at(-30))
    gone = new_entry(ada, 3, moment=at(-90))
    async with uow_factory() as uow:
        assert await uow.entries.count_live(ada.id) == 0
        assert await uow.entries.stored_bytes(ada.id) == 0
        for entry in (plain, rich, gone):
            await uow.entries.add(entry)
        await uow.entries.add(new_entry(bob, 4))
        gone.delete("phone", 5, at(1))
        await uow.entries.save(gone)
        await uow.commit()
    assert plain.version is not None and rich.version is not None
    async with uow_factory() as uow:
        assert await uow.entries.count_live(ada.id) == 2
        assert await uow.entries.stored_bytes(ada.id) == plain.version.size + rich.version.size
        assert sorted(await uow.entries.creation_times(ada.id)) == [at(-60), at(-30)]


async def test_entries_delete_all(uow_factory: UowFactory) -> None:
    ada, bob = (
        await add_user(uow_factory, "ada@example.com"),
        await add_user(uow_factory, "bob@example.com"),
    )
    live, dead, bobs = new_entry(ada, 1), new_entry(ada, 2), new_entry(bob, 3)
    async with uow_factory() as uow:
        for entry in (live, dead, bobs):
            await uow.entries.add(entry)
            await uow.entries.remember_revision(entry, b"fp")
        dead.delete("phone", 4, at(1))
        await uow.entries.save(dead)
        assert await uow.entries.delete_all(ada.id) == 1
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.entries.all(ada.id) == []
        assert await uow.entries.revision_with(ada.id, live.id, b"fp") is None
        assert await uow.entries.all(bob.id) == [bobs]
        assert await uow.entries.revision_with(bob.id, bobs.id, b"fp") == 1


# ---------------------------------------------------------------- conflicts


def _conflict(user: User, entry: Entry, *, detected: datetime = T0) -> Conflict:
    return Conflict(
        id=uuid.uuid4(),
        user_id=user.id,
        entry_id=entry.id,
        local=version("laptop", embedding=True, moment=at(-5)),
        remote_revision=entry.revision,
        detected_at=detected,
    )


async def test_conflict_round_trip_and_one_open_per_entry(uow_factory: UowFactory) -> None:
    user = await add_user(uow_factory)
    entry = new_entry(user, 1)
    first = _conflict(user, entry)
    async with uow_factory() as uow:
        await uow.entries.add(entry)
        await uow.conflicts.add(first)
        with pytest.raises(AlreadyExists):
            await uow.conflicts.add(_conflict(user, entry))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.conflicts.get(user.id, first.id) == first
        assert await uow.conflicts.open_for_entry(user.id, entry.id) == first
        first.refresh(version("laptop"), at(3))
        first.confirm(2)
        await uow.conflicts.save(first)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.conflicts.get(user.id, first.id) == first
        first.close(Resolution.MERGED, at(4))
        await uow.conflicts.save(first)
        assert await uow.conflicts.open_for_entry(user.id, entry.id) is None
        second = _conflict(user, entry, detected=at(6))
        await uow.conflicts.add(second)  # the old one is resolved: a new one may open
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.conflicts.get(user.id, first.id) == first
        assert await uow.conflicts.open_for_entry(user.id, entry.id) == second
        assert await uow.conflicts.list_open(user.id, limit=10) == ([second], 1)
        assert await uow.conflicts.all(user.id) == [first, second]


async def test_conflicts_listing_scoping_and_delete_all(uow_factory: UowFactory) -> None:
    ada, bob = (
        await add_user(uow_factory, "ada@example.com"),
        await add_user(uow_factory, "bob@example.com"),
    )
    entries = [new_entry(ada, i) for i in (1, 2, 3)]
    late, early, closed = (
        _conflict(ada, entries[0], detected=at(9)),
        _conflict(ada, entries[1], detected=at(1)),
        _conflict(ada, entries[2], detected=at(5)),
    )
    closed.close(Resolution.REMOTE, at(6))
    bobs = _conflict(bob, new_entry(bob, 4))
    async with uow_factory() as uow:
        for conflict in (late, early, closed, bobs):
            await uow.conflicts.add(conflict)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.conflicts.list_open(ada.id, limit=10) == ([early, late], 2)
        assert await uow.conflicts.list_open(ada.id, limit=1, offset=1) == ([late], 2)
        assert await uow.conflicts.list_open(ada.id, limit=1, offset=5) == ([], 2)
        assert await uow.conflicts.all(ada.id) == [early, closed, late]
        assert await uow.conflicts.get(bob.id, late.id) is None
        assert await uow.conflicts.open_for_entry(bob.id, entries[0].id) is None
        assert await uow.conflicts.delete_all(ada.id) == 2
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.conflicts.all(ada.id) == []
        assert await uow.conflicts.all(bob.id) == [bobs]


# ---------------------------------------------------------------- deliveries


async def test_deliveries_keep_the_newest_revision(uow_factory: UowFactory) -> None:
    ada, bob = (
        await add_user(uow_factory, "ada@example.com"),
        await add_user(uow_factory, "bob@example.com"),
    )
    e1, e2, e3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with uow_factory() as uow:
        await uow.deliveries.record(ada.id, "phone", [(e1, 3), (e2, 1), (e1, 2)])
        await uow.deliveries.record(ada.id, "phone", [(e1, 1), (e2, 4)])
        await uow.deliveries.record(ada.id, "laptop", [(e1, 1)])
        await uow.deliveries.record(ada.id, "phone", [])
        await uow.deliveries.record(bob.id, "phone", [(e3, 9)])
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.deliveries.delivered_revision(ada.id, "phone", e1) == 3
        assert await uow.deliveries.delivered_revision(ada.id, "phone", e2) == 4
        assert await uow.deliveries.delivered_revision(ada.id, "laptop", e1) == 1
        assert await uow.deliveries.delivered_revision(ada.id, "laptop", e2) is None
        assert await uow.deliveries.delivered_revision(ada.id, "phone", e3) is None
        await uow.deliveries.delete_all(ada.id)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.deliveries.delivered_revision(ada.id, "phone", e1) is None
        assert await uow.deliveries.delivered_revision(bob.id, "phone", e3) == 9


async def test_deliveries_record_a_large_page(uow_factory: UowFactory) -> None:
    user = await add_user(uow_factory)
    page = [(uuid.uuid4(), i % 7 + 1) for i in range(1500)]
    async with uow_factory() as uow:
        await uow.deliveries.record(user.id, "phone", page)
        await uow.commit()
    async with uow_factory() as uow:
        for entry_id, revision in page[::100]:
            assert await uow.deliveries.delivered_revision(user.id, "phone", entry_id) == revision


# ---------------------------------------------------------------- metrics


def _metric(
    user: User, moment: datetime, kind: str = "word_count", size: int = 64
) -> EncryptedMetric:
    return EncryptedMetric(uuid.uuid4(), user.id, kind, moment, os.urandom(size))


async def test_metrics_round_trip_range_and_count(uow_factory: UowFactory) -> None:
    ada, bob = (
        await add_user(uow_factory, "ada@example.com"),
        await add_user(uow_factory, "bob@example.com"),
    )
    big = _metric(ada, datetime(2026, 11, 1, 11, 35, tzinfo=PLUS2), size=350_000)
    first = _metric(ada, at(-1))
    last = _metric(ada, at(60))
    other_type = _metric(ada, at(10), kind="sentiment_score")
    async with uow_factory() as uow:
        await uow.metrics.add_many([last, big, first, other_type])
        await uow.metrics.add_many([])
        await uow.metrics.add_many([_metric(bob, at(10))])
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.metrics.in_range(ada.id, "word_count", at(-1), at(60)) == [
            first,
            big,
            last,
        ]
        assert await uow.metrics.in_range(ada.id, "word_count", at(61), at(100)) == []
        assert await uow.metrics.in_range(ada.id, "sentiment_score", at(0), at(60)) == [other_type]
        assert await uow.metrics.count(ada.id) == 4
        assert await uow.metrics.all(ada.id) == [first, big, other_type, last]
        stored = await uow.metrics.all(ada.id)
    assert stored[1].ciphertext == big.ciphertext
    assert stored[1].timestamp == datetime(2026, 11, 1, 9, 35, tzinfo=UTC)


async def test_rollups_upsert_and_select(uow_factory: UowFactory) -> None:
    ada, bob = (
        await add_user(uow_factory, "ada@example.com"),
        await add_user(uow_factory, "bob@example.com"),
    )
    d = [date(2026, 11, n) for n in range(1, 6)]
    r = [Rollup(ada.id, "word_count", DAY, day, i + 1, os.urandom(100)) for i, day in enumerate(d)]
    month = Rollup(ada.id, "word_count", MONTH, d[0], 15, b"m")
    async with uow_factory() as uow:
        await uow.metrics.save_rollups([*r, month])
        await uow.metrics.save_rollups([])
        await uow.metrics.save_rollups([Rollup(ada.id, "sentiment_score", DAY, d[0], 1, b"s")])
        await uow.metrics.save_rollups([Rollup(bob.id, "word_count", DAY, d[0], 9, b"b")])
        await uow.commit()
    replaced = Rollup(ada.id, "word_count", DAY, d[2], 10, os.urandom(300_000))
    async with uow_factory() as uow:
        await uow.metrics.save_rollups([replaced])
        await uow.commit()
    r[2] = replaced
    async with uow_factory() as uow:
        m = uow.metrics
        wanted = [d[3], d[0], date(2027, 1, 1)]
        assert await m.rollups(ada.id, "word_count", DAY, wanted) == [r[3], r[0]]
        assert await m.rollups(ada.id, "word_count", MONTH, wanted) == [month]
        assert await m.rollups(ada.id, "word_count", DAY, []) == []
        assert await m.rollups_between(ada.id, "word_count", DAY, None, None) == r
        assert await m.rollups_between(ada.id, "word_count", MONTH, None, None) == [month]
        assert await m.rollups_between(ada.id, "word_count", DAY, d[1], d[3]) == r[1:4]
        assert await m.rollups_between(ada.id, "word_count", DAY, d[3], None) == r[3:]
        assert await m.rollups_between(ada.id, "word_count", DAY, None, d[0]) == r[:1]
        assert await m.rollups_between(ada.id, "mood", DAY, None, None) == []
        bobs = await m.rollups_between(bob.id, "word_count", DAY, None, None)
        assert [x.count for x in bobs] == [9]


async def test_metrics_delete_all(uow_factory: UowFactory) -> None:
    ada, bob = (
        await add_user(uow_factory, "ada@example.com"),
        await add_user(uow_factory, "bob@example.com"),
    )
    async with uow_factory() as uow:
        await uow.metrics.add_many([_metric(ada, at(i)) for i in range(3)])
        await uow.metrics.add_many([_metric(bob, at(1))])
        await uow.metrics.save_rollups([Rollup(ada.id, "word_count", DAY, T0.date(), 3, b"x")])
        await uow.metrics.save_rollups([Rollup(bob.id, "word_count", DAY, T0.date(), 1, b"y")])
        assert await uow.metrics.delete_all(ada.id) == 3
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.metrics.count(ada.id) == 0
        assert await uow.metrics.rollups_between(ada.id, "word_count", DAY, None, None) == []
        assert await uow.metrics.count(bob.id) == 1
        assert len(await uow.metrics.rollups_between(bob.id, "word_count", DAY, None, None)) == 1


# ---------------------------------------------------------------- refresh tokens


def _hash(user: User, n: int = 0) -> bytes:
    return user.id.bytes + n.to_bytes(16, "big")


def _token(user: User, n: int = 0, family: uuid.UUID | None = None) -> RefreshToken:
    return RefreshToken(
        id=uuid.uuid4(),
        user_id=user.id,
        family_id=family or uuid.uuid4(),
        token_hash=_hash(user, n),
        issued_at=at(0),
        expires_at=at(60 * 24 * 30),
    )


async def test_refresh_token_round_trip_and_save(uow_factory: UowFactory) -> None:
    user = await add_user(uow_factory)
    token = _token(user)
    async with uow_factory() as uow:
        await uow.refresh_tokens.add(token)
        await uow.commit()
    async with uow_factory() as uow:
        stored = await uow.refresh_tokens.by_hash(token.token_hash)
        assert stored == token
        assert await uow.refresh_tokens.by_hash(b"\x00" * 32) is None
        token.mark_used(datetime(2026, 11, 2, tzinfo=PLUS2))
        await uow.refresh_tokens.save(token)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.refresh_tokens.by_hash(token.token_hash) == token


async def test_revoke_family_and_revoke_all(uow_factory: UowFactory) -> None:
    ada, bob = (
        await add_user(uow_factory, "ada@example.com"),
        await add_user(uow_factory, "bob@example.com"),
    )
    family = uuid.uuid4()
    a1, a2 = _token(ada, 1, family), _token(ada, 2, family)
    a3 = _token(ada, 3)
    earlier = _token(ada, 4, family)
    earlier.revoked_at = at(-10)
    b1 = _token(bob, 1)
    async with uow_factory() as uow:
        for token in (a1, a2, a3, earlier, b1):
            await uow.refresh_tokens.add(token)
        await uow.refresh_tokens.revoke_family(family, at(1))
        await uow.commit()

    async def revoked(user: User, n: int) -> datetime | None:
        async with uow_factory() as uow:
            token = await uow.refresh_tokens.by_hash(_hash(user, n))
            assert token is not None
            return token.revoked_at

    assert [await revoked(ada, n) for n in (1, 2, 3, 4)] == [at(1), at(1), None, at(-10)]
    async with uow_factory() as uow:
        await uow.refresh_tokens.revoke_all(ada.id, at(2))
        await uow.commit()
    assert [await revoked(ada, n) for n in (1, 2, 3, 4)] == [at(1), at(1), at(2), at(-10)]
    assert await revoked(bob, 1) is None


async def test_live_sessions_come_newest_first_a_page_at_a_time(uow_factory: UowFactory) -> None:
    ada, bob = (
        await add_user(uow_factory, "ada@example.com"),
        await add_user(uow_factory, "bob@example.com"),
    )
    tokens = [_token(ada, n) for n in range(5)]
    for n, token in enumerate(tokens):
        token.session_started_at = at(n)
    used, revoked, expired = _token(ada, 5), _token(ada, 6), _token(ada, 7)
    used.used_at, revoked.revoked_at, expired.expires_at = at(1), at(1), at(2)
    async with uow_factory() as uow:
        for token in (*tokens, used, revoked, expired, _token(bob, 1)):
            await uow.refresh_tokens.add(token)
        await uow.commit()
    async with uow_factory() as uow:
        now = at(3)
        newest_first = [t.id for t in reversed(tokens)]
        assert [t.id for t in await uow.refresh_tokens.live(ada.id, now)] == newest_first
        pages = [await uow.refresh_tokens.live(ada.id, now, limit=2, offset=o) for o in (0, 2, 4)]
        assert [t.id for page in pages for t in page] == newest_first
        assert await uow.refresh_tokens.count_live(ada.id, now) == 5
        assert await uow.refresh_tokens.count_live(bob.id, now) == 1


async def test_metric_upload_keys_are_kept_and_scoped_to_the_user(uow_factory: UowFactory) -> None:
    ada, bob = (
        await add_user(uow_factory, "ada@example.com"),
        await add_user(uow_factory, "bob@example.com"),
    )
    keyed = EncryptedMetric(uuid.uuid4(), ada.id, "word_count", at(0), b"c1", b"k" * 32)
    plain = _metric(ada, at(1))
    async with uow_factory() as uow:
        await uow.metrics.add_many([keyed, plain])
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.metrics.known_upload_keys(ada.id, [b"k" * 32, b"x" * 32]) == {b"k" * 32}
        assert await uow.metrics.known_upload_keys(bob.id, [b"k" * 32]) == set()
        assert await uow.metrics.known_upload_keys(ada.id, []) == set()
        stored = {m.id: m for m in await uow.metrics.all(ada.id)}
        assert stored[keyed.id].upload_key == b"k" * 32 and stored[plain.id].upload_key is None


async def test_packed_windows_round_trip_scope_page_and_delete(uow_factory: UowFactory) -> None:
    ada = await add_user(uow_factory)
    bob = await add_user(uow_factory, "bob@example.com")
    mine = [
        PackedWindow(ada.id, kind, year, 1, bytes([year % 256]) * 100)
        for kind in ("mood", "words")
        for year in (2024, 2025, 2026)
    ]
    async with uow_factory() as uow:
        await uow.packed_metrics.save(mine)
        await uow.packed_metrics.save([PackedWindow(bob.id, "mood", 2025, 1, b"b" * 10)])
        await uow.packed_metrics.add_upload_keys(ada.id, [b"k1", b"k2", b"k1"])
        await uow.commit()
    async with uow_factory() as uow:
        packed = uow.packed_metrics
        # Saving again replaces (the running sum and its upload count).
        await packed.save([PackedWindow(ada.id, "mood", 2025, 2, b"new" * 50)])
        got = await packed.windows(ada.id, [("mood", 2025), ("mood", 1999), ("words", 2024)])
        assert sorted((w.metric_type, w.year, w.uploads, w.ciphertext) for w in got) == [
            ("mood", 2025, 2, b"new" * 50),
            ("words", 2024, 1, bytes([2024 % 256]) * 100),
        ]
        assert [w.year for w in await packed.between(ada.id, "mood", 2025, None)] == [2025, 2026]
        assert [w.year for w in await packed.between(ada.id, "mood", None, 2024)] == [2024]
        assert [w.user_id for w in await packed.between(bob.id, "mood", None, None)] == [bob.id]
        assert await packed.known_upload_keys(ada.id, [b"k1", b"k3"]) == {b"k1"}
        assert await packed.known_upload_keys(bob.id, [b"k1"]) == set()
        assert await packed.stored_bytes(ada.id) == (
            5 * 100 + 150 + 6 * PACKED_ROW_OVERHEAD_BYTES + 2 * PACKED_UPLOAD_KEY_BYTES
        )
        first = await packed.page(ada.id, None, 4)
        rest = await packed.page(ada.id, (first[-1].metric_type, first[-1].year), 4)
        assert [(w.metric_type, w.year) for w in first + rest] == [
            (w.metric_type, w.year) for w in await packed.all(ada.id)
        ]
        assert len(first + rest) == 6
        assert await packed.delete_all(ada.id) == 6
        assert await packed.all(ada.id) == []
        assert await packed.known_upload_keys(ada.id, [b"k1"]) == set()
        assert len(await packed.all(bob.id)) == 1
        await uow.commit()
