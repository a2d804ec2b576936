"""The conflict rules of docs/DESIGN.md, one by one, on the pure decision function."""

import uuid
from datetime import datetime, timezone

import pytest

from reflective_domain.entries import Conflict, Entry, Outcome, Upload, decide_upload
from reflective_domain.errors import ValidationFailed
from tests.entries import version

NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)
USER, ENTRY = uuid.UUID(int=1), uuid.UUID(int=2)


def entry_at(revision: int, device: str = "phone") -> Entry:
    e = Entry.create(ENTRY, USER, version(device), 1, NOW)
    e.revision = revision
    return e


def decide(entry, upload, delivered=None, known=None, conflict=None):
    return decide_upload(
        entry, upload, delivered_revision=delivered, known_revision=known, open_conflict=conflict
    )


def test_unknown_entry_is_created():
    assert decide(None, Upload(ENTRY, version())) is Outcome.CREATED


def test_a_retry_of_an_accepted_version_changes_nothing():
    assert decide(entry_at(3), Upload(ENTRY, version("laptop")), known=2) is Outcome.UNCHANGED


def test_base_revision_equal_to_current_fast_forwards():
    assert decide(entry_at(3), Upload(ENTRY, version("laptop"), 3)) is Outcome.ACCEPTED


def test_older_base_revision_conflicts():
    assert decide(entry_at(3), Upload(ENTRY, version("phone"), 2)) is Outcome.CONFLICT


def test_base_revision_from_the_future_is_invalid():
    with pytest.raises(ValidationFailed):
        decide(entry_at(3), Upload(ENTRY, version(), 4))


def test_without_base_the_writing_device_fast_forwards():
    assert decide(entry_at(3, "phone"), Upload(ENTRY, version("phone"))) is Outcome.ACCEPTED


def test_without_base_a_device_that_was_sent_the_current_version_fast_forwards():
    assert decide(entry_at(3), Upload(ENTRY, version("laptop")), delivered=3) is Outcome.ACCEPTED


def test_without_base_a_device_that_has_not_seen_the_current_version_conflicts():
    assert decide(entry_at(3), Upload(ENTRY, version("laptop")), delivered=2) is Outcome.CONFLICT
    assert decide(entry_at(3), Upload(ENTRY, version("laptop"))) is Outcome.CONFLICT


def open_conflict(device: str) -> Conflict:
    return Conflict(uuid.uuid4(), USER, ENTRY, version(device), 3, NOW)


def test_a_later_upload_from_the_conflicting_device_refreshes_its_conflict():
    c = open_conflict("laptop")
    assert decide(entry_at(3), Upload(ENTRY, version("laptop")), conflict=c) is (
        Outcome.CONFLICT_REFRESHED
    )


def test_repeating_the_conflicting_upload_repeats_the_conflict():
    c = open_conflict("laptop")
    assert decide(entry_at(3), Upload(ENTRY, c.local), conflict=c) is Outcome.CONFLICT_REPEATED


def test_a_third_device_cannot_replace_another_devices_open_conflict():
    c = open_conflict("laptop")
    assert decide(entry_at(3), Upload(ENTRY, version("tablet")), conflict=c) is (
        Outcome.BLOCKED_BY_CONFLICT
    )


def test_writing_to_a_tombstone_brings_the_entry_back():
    e = entry_at(3)
    e.delete("phone", 5, NOW)
    assert decide(e, Upload(ENTRY, version("laptop"))) is Outcome.ACCEPTED
