"""Hypothesis strategies for the domain."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from hypothesis import strategies as st

from reflective_domain.tags import MAX_TAG_NAME, Tag
from reflective_domain.tiers import PrivacyTier

UTC = timezone.utc
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

tiers = st.sampled_from(list(PrivacyTier))

moments = st.integers(min_value=0, max_value=365 * 24 * 3600 * 10**6).map(
    lambda us: EPOCH + timedelta(microseconds=us)
)

# Names that differ in case, spacing and Unicode form must fold to one tag.
_base_names = st.sampled_from(
    [
        "work",
        "Family",
        "gratitude",
        "deep  thoughts",
        "café",
        "\uff34\uff32\uff21\uff36\uff25\uff2c",
    ]
)
tag_names = st.one_of(
    _base_names.flatmap(
        lambda n: st.sampled_from([n, n.upper(), f"  {n} ", n.replace(" ", "   "), n.title()])
    ),
    st.text(min_size=1, max_size=MAX_TAG_NAME // 4).filter(lambda s: s.split()),
)

user_ids = st.sampled_from([uuid.UUID(int=1), uuid.UUID(int=2)])


@st.composite
def tags(draw: st.DrawFn) -> Tag:
    created = draw(moments)
    used = draw(st.none() | moments.filter(lambda m: m >= created))
    tag = Tag.new(draw(st.uuids()), draw(user_ids), draw(tag_names), None, created)
    tag.last_used_at = used
    return tag
