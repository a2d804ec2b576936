import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reflective_app.settings import Settings
from reflective_domain.entries import ROW_OVERHEAD_BYTES, stored_size
from reflective_domain.errors import LimitExceeded, ValidationFailed
from reflective_domain.tags import Tag, colour_for, deduplicate, normalise_tag_name, tag_size
from reflective_domain.tiers import PrivacyTier
from tests import strategies as s
from tests.composition import memory_container, new_user
from tests.entries import upload, version

NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)
USER = uuid.UUID(int=1)


def test_names_fold_case_spacing_and_unicode_form():
    assert normalise_tag_name("  Deep   Thoughts ") == normalise_tag_name("deep thoughts")
    assert normalise_tag_name("\uff34\uff32\uff21\uff36\uff25\uff2c") == "travel"


@pytest.mark.parametrize("bad", ["", "   ", "x" * 101])
def test_empty_or_long_names_are_refused(bad):
    with pytest.raises(ValidationFailed):
        normalise_tag_name(bad)


def test_generated_colour_is_stable_and_well_formed():
    assert colour_for("Work") == colour_for(" work ")
    assert len(colour_for("Work")) == 7 and colour_for("Work").startswith("#")


def test_given_colour_must_be_rrggbb():
    with pytest.raises(ValidationFailed):
        Tag.new(uuid.uuid4(), USER, "x", "red", NOW)
    assert Tag.new(uuid.uuid4(), USER, "x", "#a0b1c2", NOW).color == "#A0B1C2"


def test_a_tag_is_stale_after_days_without_use():
    tag = Tag.new(uuid.uuid4(), USER, "x", None, NOW - timedelta(days=40))
    assert tag.is_stale(NOW, 30)
    tag.mark_used(NOW - timedelta(days=5))
    assert not tag.is_stale(NOW, 30)


@given(st.lists(s.tags(), max_size=12))
def test_dedup_is_idempotent(tags):
    once = deduplicate(tags)
    assert deduplicate(once) == once


@given(st.lists(s.tags(), max_size=12), st.randoms())
def test_dedup_ignores_input_order(tags, rnd):
    shuffled = list(tags)
    rnd.shuffle(shuffled)
    assert deduplicate(shuffled) == deduplicate(tags)


@given(st.lists(s.tags(), max_size=12))
def test_dedup_keeps_one_tag_per_user_and_name(tags):
    kept = deduplicate(tags)
    keys = [(t.user_id, t.key) for t in kept]
    assert len(keys) == len(set(keys)) == len({(t.user_id, t.key) for t in tags})


# Tags in the storage quota: a tag's bytes join the same counter as entries, conflicts and kept
# versions, on every write that adds, changes or removes one.


def test_a_tag_counts_its_name_its_key_its_colour_and_a_row():
    tag = Tag.new(uuid.uuid4(), USER, "Straße", "#a0b1c2", NOW)
    # UTF-8 bytes: "Straße" is 7, its key "strasse" 7, the colour 7.
    assert tag.size == ROW_OVERHEAD_BYTES + 7 + 7 + 7 == tag_size("Straße", "#A0B1C2")


async def _counter_and_real(container, user):
    """The O(1) counter, and what the user's tags and entries really hold."""
    async with container.uow_factory()() as uow:
        state = await uow.users.state(user)
        held = await uow.tags.list(user)
        entries = await uow.entries.all(user)
    real = sum(t.size for t in held) + sum(stored_size(e.version) for e in entries)
    return state.stored_bytes, real


async def test_the_counter_follows_every_tag_write(container):
    user = await new_user(container, tier=PrivacyTier.FULL_SYNC)
    clock = container.clock()
    steps = []

    async def check(step):
        steps.append(step)
        counter, real = await _counter_and_real(container, user)
        assert counter == real, (steps, counter, real)

    await container.push_entry()(user, upload(uuid.UUID(int=1), version("laptop")))
    await check("an entry")
    work, created = await container.create_tag()(user, "Work")
    assert created
    await check("created")
    assert (await container.create_tag()(user, " work "))[1] is False
    await check("the same name again")
    await container.update_tag()(user, work.id, name="Work, the long name")
    await check("renamed longer")
    await container.update_tag()(user, work.id, name="w", color="#000000", used=True)
    await check("renamed shorter, recoloured, used")
    await container.create_tag()(user, "old")
    gone, _ = await container.create_tag()(user, "gone")
    await check("two more")
    await container.delete_tag()(user, gone.id)
    await check("deleted")
    clock.advance(days=40)
    await container.update_tag()(user, work.id, used=True)
    assert await container.cleanup_tags()(user, 30) == 1
    await check("cleaned up")
    await container.delete_all_entries()(user)
    await check("delete all entries keeps the tags' bytes")
    await container.push_entry()(user, upload(uuid.UUID(int=2), version("laptop")))
    await container.change_tier()(user, PrivacyTier.LOCAL_ONLY, clock.now())
    await check("a downgrade keeps the tags' bytes")
    counter, _ = await _counter_and_real(container, user)
    assert counter == tag_size("w", "#000000") > 0


async def test_a_tag_beyond_the_storage_quota_is_refused_and_not_kept():
    room = ROW_OVERHEAD_BYTES + 3 + 3 + 7  # "one" and its key, a colour
    container = memory_container(
        settings=Settings(data_dir=Path("unused"), user_storage_quota_bytes=room + 10)
    )
    user = await new_user(container)
    one, _ = await container.create_tag()(user, "one")
    with pytest.raises(LimitExceeded, match="quota"):
        await container.create_tag()(user, "two")
    with pytest.raises(LimitExceeded, match="quota"):
        await container.update_tag()(user, one.id, name="one, renamed longer")
    assert [t.name for t in await container.list_tags()(user)] == ["one"]
    counter, real = await _counter_and_real(container, user)
    assert counter == real == room
    # A rename that frees bytes, and the same name again, always go through.
    await container.update_tag()(user, one.id, name="1")
    assert (await container.create_tag()(user, "1"))[1] is False
