"""Private tag names: blind index determinism, sealed names, the server's 100-character cap."""

from __future__ import annotations

import os

from hypothesis import given
from hypothesis import strategies as st

from reflective_client.crypto.tags import PREFIX, TagNames
from reflective_domain.tags import MAX_TAG_NAME, normalise_tag_name

KEY = bytes(range(32))
names = st.text(min_size=1, max_size=40).filter(lambda s: " ".join(s.split()) != "")


def test_index_is_deterministic_and_keyed() -> None:
    a, b = TagNames(KEY), TagNames(KEY)
    assert a.index("Work") == b.index("Work")
    assert TagNames(os.urandom(32)).index("Work") != a.index("Work")


def test_names_the_server_would_merge_share_an_index() -> None:
    tags = TagNames(KEY)
    assert tags.index("Work") == tags.index("  work ") == tags.index("WORK")
    full_width = "\uff37\uff4f\uff52\uff4b"  # "Work" in full-width letters: NFKC folds it
    assert tags.index(full_width) == tags.index("work")
    assert tags.index("work") != tags.index("works")


def test_index_survives_the_servers_case_folding() -> None:
    index = TagNames(KEY).index("gratitude")
    assert len(index) == 16 and index == index.lower() and index.isalnum()


def test_server_name_is_deterministic_fits_and_reads_back() -> None:
    tags = TagNames(KEY)
    name = tags.server_name("Morning pages")
    assert name == tags.server_name("Morning pages")  # the server de-duplicates it
    assert name.startswith(PREFIX) and len(name) <= MAX_TAG_NAME
    assert "Morning" not in name and "morning" not in name.casefold()
    read = tags.read(name)
    assert read.private and read.display_name == "Morning pages"
    assert read.index == tags.index("morning pages")


def test_long_names_travel_as_the_index_alone() -> None:
    tags = TagNames(KEY)
    long_name = "a very long tag name that will not fit beside its index at all"
    name = tags.server_name(long_name)
    assert name == f"{PREFIX}{tags.index(long_name)}"
    assert tags.read(name).display_name is None and tags.read(name).private


def test_tampered_or_foreign_sealed_names_do_not_read() -> None:
    tags = TagNames(KEY)
    name = tags.server_name("health")
    index, sealed = name[len(PREFIX) :].split(".")
    swapped = f"{PREFIX}{tags.index('other')}.{sealed}"  # sealed name moved to another index
    flipped = f"{PREFIX}{index}.{'A' if sealed[0] != 'A' else 'B'}{sealed[1:]}"
    for bad in (swapped, flipped, f"{PREFIX}{index}.!!!"):
        assert tags.read(bad).display_name is None
    assert TagNames(os.urandom(32)).read(name).display_name is None


def test_plain_names_from_other_clients_are_marked_not_private() -> None:
    read = TagNames(KEY).read("Family")
    assert not read.private and read.display_name == "Family" and read.index is None


@given(names, names)
def test_index_equality_is_name_equality(first: str, second: str) -> None:
    tags = TagNames(KEY)
    same = normalise_tag_name(first) == normalise_tag_name(second)
    assert (tags.index(first) == tags.index(second)) == same


@given(names)
def test_every_server_name_fits_and_reads_back(name: str) -> None:
    tags = TagNames(KEY)
    server_name = tags.server_name(name)
    assert len(server_name) <= MAX_TAG_NAME
    read = tags.read(server_name)
    assert read.private and read.index == tags.index(name)
    if read.display_name is not None:
        assert normalise_tag_name(read.display_name) == normalise_tag_name(name)
