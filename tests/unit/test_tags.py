import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reflective_domain.errors import ValidationFailed
from reflective_domain.tags import Tag, colour_for, deduplicate, normalise_tag_name
from tests import strategies as s

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
