"""The sync engine against the real app on memory repositories: two devices, interruptions,
conflicts, tombstones, metric uploads that survive lost answers."""

from __future__ import annotations

import pytest

from reflective_client.device import Device
from reflective_client.errors import KeysMissing, StaleResolutionError, TierError, TransportError
from reflective_client.keystore import MemoryKeyStore
from reflective_client.store import CLEAN, CONFLICT, DIRTY, METRICS_UPLOADED
from tests.unit.client.conftest import FlakyTransport, new_device


def texts(device: Device) -> dict[str, str | None]:
    return {e.id: e.text for e in device.entries()}


async def server_revision(device: Device, entry_id: str) -> int | None:
    page = await device.api.changes(None, limit=500)
    return next((c.revision for c in page.changes if str(c.id) == entry_id), None)


async def edited_on_both(
    laptop: Device, phone: Device, first: str, laptop_edit: str, phone_edit: str
) -> str:
    """An entry both devices edited from ``first``: the laptop's edit reached the server
    first, so the phone's is held in a conflict. Returns the entry's id."""
    entry = laptop.write(first)
    await laptop.sync()
    await phone.sync()
    laptop.write(laptop_edit, entry.id)
    phone.write(phone_edit, entry.id)
    await laptop.sync()
    await phone.sync()
    return entry.id


async def test_write_sync_read_on_the_other_device(two_devices: tuple[Device, Device]) -> None:
    laptop, phone = two_devices
    first = laptop.write("Walked to the lake. Calm water.")
    second = laptop.write("Long day, but a good one.")
    report = await laptop.sync()
    assert report.entries is not None and report.entries.pushed == 2
    assert {e.state for e in laptop.store.entries()} == {CLEAN}
    await phone.sync()
    assert (
        texts(phone)
        == texts(laptop)
        == {
            first.id: "Walked to the lake. Calm water.",
            second.id: "Long day, but a good one.",
        }
    )
    assert phone.store.get(first.id).base_revision == 1  # type: ignore[union-attr]


async def test_a_lost_push_answer_is_resent_without_duplicating(
    two_devices: tuple[Device, Device], transport: FlakyTransport
) -> None:
    laptop, phone = two_devices
    entry = laptop.write("Sent once, answered never.")
    transport.lose_answer_once("POST", "/api/sync/backup")
    with pytest.raises(TransportError):
        await laptop.sync()
    assert laptop.store.get(entry.id).state == DIRTY  # type: ignore[union-attr]
    await laptop.sync()  # the same ciphertext again: a no-op on the server
    assert laptop.store.get(entry.id).state == CLEAN  # type: ignore[union-attr]
    assert await server_revision(laptop, entry.id) == 1
    await phone.sync()
    assert list(texts(phone).values()) == ["Sent once, answered never."]


async def test_the_client_retries_idempotent_pushes_by_itself(
    two_devices: tuple[Device, Device], transport: FlakyTransport
) -> None:
    laptop, _ = two_devices
    laptop.api.retries = 2
    entry = laptop.write("Retried transparently.")
    transport.lose_answer_once("POST", "/api/sync/backup")
    await laptop.sync()
    assert laptop.store.get(entry.id).state == CLEAN  # type: ignore[union-attr]
    assert await server_revision(laptop, entry.id) == 1


async def test_an_interrupted_pull_resumes_from_its_cursor(
    two_devices: tuple[Device, Device], transport: FlakyTransport
) -> None:
    laptop, phone = two_devices
    written = {laptop.write(f"entry number {n}").id for n in range(7)}
    await laptop.sync()
    engine = phone.engine()
    engine.page_size = 3
    calls_before = len(transport.requests)
    transport.lose = []
    pages = 0

    def second_page(request: object) -> bool:
        nonlocal pages
        if getattr(request, "url").path.endswith("/api/sync/changes"):  # noqa: B009
            pages += 1
            return pages == 2
        return False

    transport.lose.append(second_page)  # type: ignore[arg-type]
    with pytest.raises(TransportError):
        await engine.pull()
    assert len(phone.store.entries()) == 3 and phone.store.cursor is not None
    await engine.pull()
    assert {e.id for e in phone.store.entries()} == written
    assert len(transport.requests) > calls_before


async def test_an_unknown_cursor_restarts_the_pull(two_devices: tuple[Device, Device]) -> None:
    laptop, phone = two_devices
    laptop.write("still here after a resync")
    await laptop.sync()
    phone.store.cursor = "999999"
    await phone.sync()
    assert list(texts(phone).values()) == ["still here after a resync"]


async def test_concurrent_edits_conflict_and_merge(two_devices: tuple[Device, Device]) -> None:
    laptop, phone = two_devices
    entry = laptop.write("Morning: coffee.")
    await laptop.sync()
    await phone.sync()
    laptop.write("Morning: coffee. Evening: rain.", entry.id)
    phone.write("Morning: coffee and a walk.", entry.id)
    await laptop.sync()
    report = await phone.sync()
    assert report.entries is not None and len(report.entries.conflicts) == 1
    assert phone.store.get(entry.id).state == CONFLICT  # type: ignore[union-attr]

    [conflict] = await phone.conflicts()
    assert conflict.log_id == entry.id
    assert conflict.local_text == "Morning: coffee and a walk."
    assert conflict.local_device == phone.device_id
    assert conflict.remote_text == "Morning: coffee. Evening: rain."

    merged = "Morning: coffee and a walk. Evening: rain."
    await phone.resolve(conflict.id, "merged", merged)
    await laptop.sync()
    await phone.sync()
    assert texts(phone)[entry.id] == texts(laptop)[entry.id] == merged
    assert await phone.conflicts() == []
    assert phone.store.get(entry.id).state == CLEAN  # type: ignore[union-attr]
    assert phone.store.get(entry.id).word_count == 7  # type: ignore[union-attr]


async def test_a_merged_resolution_whose_answer_was_lost_is_not_lost(
    two_devices: tuple[Device, Device], transport: FlakyTransport
) -> None:
    laptop, phone = two_devices
    entry_id = await edited_on_both(laptop, phone, "v1", "laptop v2", "phone v2")
    [conflict] = await phone.conflicts()
    transport.lose_answer_once("POST", "/resolve")
    with pytest.raises(TransportError):
        await phone.resolve(conflict.id, "merged", "both v2s, merged")
    assert list(phone.store.resolutions()) == [conflict.id]  # kept to be sent again
    await phone.sync()
    await laptop.sync()
    assert texts(phone)[entry_id] == texts(laptop)[entry_id] == "both v2s, merged"
    assert phone.store.resolutions() == {} and await phone.conflicts() == []
    assert await server_revision(phone, entry_id) == 3  # v1, laptop v2, the merge: no extra


@pytest.mark.parametrize("choice", ["local", "remote"])
async def test_local_and_remote_resolutions(
    two_devices: tuple[Device, Device], choice: str
) -> None:
    laptop, phone = two_devices
    entry_id = await edited_on_both(laptop, phone, "start", "laptop wins?", "phone wins?")
    [conflict] = await phone.conflicts()
    await phone.resolve(conflict.id, choice)
    await laptop.sync()
    await phone.sync()
    expected = "phone wins?" if choice == "local" else "laptop wins?"
    assert texts(phone)[entry_id] == texts(laptop)[entry_id] == expected
    assert {phone.store.get(entry_id).state, laptop.store.get(entry_id).state} == {CLEAN}  # type: ignore[union-attr]


async def test_a_resolution_is_refused_when_the_conflict_changed_since_it_was_listed(
    two_devices: tuple[Device, Device],
) -> None:
    """The SDK sends the listed ``remote_revision`` and ``generation``: a resolution decided
    on what the user saw never applies a side the user did not see."""
    laptop, phone = two_devices
    entry_id = await edited_on_both(laptop, phone, "start", "laptop edit", "phone edit")
    [listed] = await phone.api.conflicts()
    phone.write("phone edit, again", entry_id)  # a newer local side, unseen by the listing
    await phone.engine().push()
    await laptop.api.conflicts()  # listed elsewhere: the server now counts the newer side seen
    with pytest.raises(StaleResolutionError):
        await phone.engine().resolve(listed, "local")
    await laptop.sync()
    assert texts(laptop)[entry_id] == "laptop edit"  # nothing was written
    await phone.resolve(str(listed.id), "local")  # listed again, then resolved
    await laptop.sync()
    assert texts(laptop)[entry_id] == "phone edit, again"


async def test_a_conflict_resolved_on_the_other_device_settles_here(
    two_devices: tuple[Device, Device],
) -> None:
    laptop, phone = two_devices
    entry_id = await edited_on_both(
        laptop, phone, "start", "laptop edit", "phone edit"
    )  # phone's edit is held in a conflict
    [conflict] = await laptop.conflicts()
    await laptop.resolve(conflict.id, "remote")  # the user discards the phone's edit
    await phone.sync()
    assert texts(phone)[entry_id] == "laptop edit"
    assert phone.store.get(entry_id).state == CLEAN  # type: ignore[union-attr]


async def test_an_upload_blocked_by_another_devices_conflict_waits(
    two_devices: tuple[Device, Device], transport: FlakyTransport
) -> None:
    laptop, phone = two_devices
    tablet = new_device(transport, MemoryKeyStore(laptop.keys))
    await tablet.login("writer@example.com", "correct horse battery")
    entry = laptop.write("start")
    await laptop.sync()
    await phone.sync()
    await tablet.sync()
    laptop.write("laptop edit", entry.id)
    phone.write("phone edit", entry.id)
    await laptop.sync()
    await phone.sync()  # a conflict now holds the phone's edit
    tablet.write("tablet edit", entry.id)
    await tablet.sync()  # blocked: the open conflict holds another device's upload
    assert tablet.store.get(entry.id).state == DIRTY  # type: ignore[union-attr]
    [conflict] = await phone.conflicts()
    assert conflict.local_text == "phone edit"
    await phone.resolve(conflict.id, "remote")
    await tablet.sync()  # now its own conflict: the tablet's edit is kept, not lost
    [conflict] = await tablet.conflicts()
    assert conflict.local_text == "tablet edit" and conflict.remote_text == "laptop edit"
    assert tablet.store.get(entry.id).state == CONFLICT  # type: ignore[union-attr]
    await tablet.resolve(conflict.id, "merged", "laptop edit + tablet edit")
    for device in (laptop, phone, tablet):
        await device.sync()
        assert texts(device)[entry.id] == "laptop edit + tablet edit"
    await tablet.api.aclose()


async def test_deletes_reach_the_other_device_as_tombstones(
    two_devices: tuple[Device, Device],
) -> None:
    laptop, phone = two_devices
    keep, drop = laptop.write("keep me"), laptop.write("delete me")
    await laptop.sync()
    await phone.sync()
    phone.delete(drop.id)
    report = await phone.sync()
    assert report.entries is not None and report.entries.deleted == 1
    laptop_report = await laptop.sync()
    assert laptop_report.entries is not None and laptop_report.entries.tombstones == 1
    assert texts(laptop) == texts(phone) == {keep.id: "keep me"}


async def test_editing_beats_deleting(two_devices: tuple[Device, Device]) -> None:
    laptop, phone = two_devices
    entry = laptop.write("original")
    await laptop.sync()
    await phone.sync()
    laptop.delete(entry.id)
    phone.write("edited while the laptop deleted it", entry.id)
    await laptop.sync()
    await phone.sync()
    await laptop.sync()
    assert texts(laptop) == texts(phone) == {entry.id: "edited while the laptop deleted it"}


async def test_metrics_upload_survives_a_lost_answer_without_double_counting(
    two_devices: tuple[Device, Device], transport: FlakyTransport
) -> None:
    laptop, phone = two_devices
    for text in ("one two three", "four five", "six"):
        laptop.write(text)
    await laptop.sync()
    assert (await laptop.api.aggregate("word_count")).count == 3

    laptop.write("seven eight nine ten")
    transport.lose_answer_once("POST", "/api/encryption/metrics")
    with pytest.raises(TransportError):
        await laptop.sync()
    report = await laptop.sync()  # reconciled from the export: stored, not resent
    assert report.metrics_uploaded == 0
    words = await laptop.api.aggregate("word_count")
    assert words.count == 4
    assert laptop.keys.ckks.decrypt(words.encrypted_result) == pytest.approx(10, abs=1e-3)
    assert {e.metrics for e in laptop.store.entries()} == {METRICS_UPLOADED}

    laptop.write("eleven twelve")
    transport.fail_once("POST", "/api/encryption/metrics")
    with pytest.raises(TransportError):
        await laptop.sync()
    await laptop.sync()  # never arrived: sent again
    assert (await laptop.api.aggregate("word_count")).count == 5

    # The phone got these entries by sync: their author uploaded the metrics, not the phone.
    phone_report = await phone.sync()
    assert phone_report.metrics_uploaded == 0
    assert (await laptop.api.aggregate("word_count")).count == 5


async def test_stats_decrypt_what_the_server_summed(two_devices: tuple[Device, Device]) -> None:
    laptop, phone = two_devices
    written = laptop.write("I love quiet mornings with good coffee.")
    laptop.write("Terrible traffic, awful meeting, everything went wrong.")
    await laptop.sync()
    stats = await phone.stats(weeks=2, today=written.created_at.date())
    assert stats.words is not None and stats.sentiment is not None
    assert stats.words.count == 2
    assert stats.words.total == pytest.approx(7 + 7, abs=1e-3)
    assert stats.words.average == pytest.approx(7, abs=1e-3)
    local = [e.sentiment for e in laptop.store.entries()]
    assert stats.sentiment.total == pytest.approx(sum(local), abs=1e-3)  # type: ignore[arg-type]
    assert stats.weeks[-1].entries == 2 and stats.weeks[-1].words == pytest.approx(14, abs=1e-3)
    assert stats.weeks[0].entries == 0


async def test_downgrades_delete_cloud_data_and_keep_local_entries(
    two_devices: tuple[Device, Device],
) -> None:
    laptop, phone = two_devices
    entry = laptop.write("stays on the laptop")
    await laptop.sync()
    await laptop.set_tier("analytics_sync")
    assert (await laptop.api.export()).entries == []
    assert texts(laptop) == {entry.id: "stays on the laptop"}
    assert (await phone.sync()).entries is None  # no entry sync on analytics_sync
    assert (await laptop.stats()).words is not None
    await laptop.set_tier("local_only")
    with pytest.raises(TierError, match="analytics_sync"):
        await laptop.stats()
    assert texts(laptop) == {entry.id: "stays on the laptop"}
    # Back up: everything (entries and metrics) goes to the server again.
    await laptop.set_tier("full_sync")
    assert (await laptop.stats()).words is not None
    assert await server_revision(laptop, entry.id) == 1


async def test_register_login_and_keys_needed_for_encrypted_accounts(
    transport: FlakyTransport,
) -> None:
    first = new_device(transport)
    await first.register("solo@example.com", "correct horse battery")
    assert first.has_keys
    await first.set_tier("analytics_sync")
    stranger = new_device(transport)
    with pytest.raises(KeysMissing, match="keys import"):
        await stranger.login("solo@example.com", "correct horse battery")


async def test_tags_are_private_and_deduplicated(two_devices: tuple[Device, Device]) -> None:
    laptop, phone = two_devices
    await laptop.add_tag("Gratitude")
    await phone.add_tag("gratitude ")  # the same tag to the user
    long_name = "Things I want to remember about this particular summer"
    await laptop.add_tag(long_name)
    stored = await laptop.api.tags()
    assert len(stored) == 2
    assert all(t.name.startswith("bi:") for t in stored)
    assert not any("ratitude" in t.name or "summer" in t.name for t in stored)
    assert sorted(t.name or "?" for t in await laptop.tags()) == sorted(["Gratitude", long_name])
    # The phone never saw the long name: the server cannot tell it.
    assert sorted(t.name or "?" for t in await phone.tags()) == sorted(["?", "Gratitude"])


async def test_stats_follow_edits_and_deletions_without_a_rebuild(
    two_devices: tuple[Device, Device],
) -> None:
    laptop, phone = two_devices
    kept = laptop.write("one two")
    dropped = laptop.write("three four five")
    await laptop.sync()
    await phone.sync()
    phone.write("one two three four five six", kept.id)  # edited on the other device
    phone.delete(dropped.id)
    await phone.sync()
    for device in (laptop, phone):
        stats = await device.stats(weeks=1)
        assert stats.words is not None and stats.words.count == 1
        assert stats.words.total == pytest.approx(6, abs=1e-3)


async def test_rebuilt_metrics_match_the_live_entries(
    two_devices: tuple[Device, Device],
) -> None:
    laptop, _ = two_devices
    laptop.write("one two")
    gone = laptop.write("three four five")
    await laptop.sync()
    laptop.delete(gone.id)
    await laptop.sync()
    assert await laptop.rebuild_metrics() == 2  # one entry left: word count + sentiment
    fresh = await laptop.stats(weeks=1)
    assert fresh.words is not None and fresh.words.count == 1
    assert fresh.words.total == pytest.approx(2, abs=1e-3)


async def test_a_device_offline_during_a_downgrade_and_reupgrade_still_syncs(
    two_devices: tuple[Device, Device],
) -> None:
    laptop, phone = two_devices
    entry = laptop.write("draft")
    await laptop.sync()
    laptop.write("draft, revised", entry.id)
    await laptop.sync()  # revision 2
    await phone.sync()
    await laptop.set_tier("analytics_sync")  # the server drops every entry...
    await laptop.set_tier("full_sync")  # ...and gets the laptop's copy again, as revision 1
    assert await server_revision(laptop, entry.id) == 1
    phone.write("draft, revised on the phone", entry.id)  # edited from revision 2
    report = await phone.sync()
    assert report.entries is not None and report.entries.rejected == {}
    await laptop.sync()
    assert texts(laptop)[entry.id] == texts(phone)[entry.id] == "draft, revised on the phone"


async def test_a_device_catches_up_with_tier_changes_made_elsewhere(
    two_devices: tuple[Device, Device],
) -> None:
    laptop, phone = two_devices
    entry = laptop.write("shared")
    await laptop.sync()
    await phone.sync()
    await laptop.set_tier("analytics_sync")
    report = await phone.sync()
    assert report.tier == "analytics_sync" and report.entries is None
    assert phone.store.get(entry.id).base_revision is None  # type: ignore[union-attr]
    await laptop.set_tier("full_sync")
    await phone.sync()  # pushes its copy again: identical ciphertext, a no-op
    assert phone.store.get(entry.id).state == CLEAN  # type: ignore[union-attr]
    assert await server_revision(phone, entry.id) == 1
    assert texts(phone) == texts(laptop) == {entry.id: "shared"}


async def test_pushes_go_in_batches_and_progress_counts_entries(
    two_devices: tuple[Device, Device], transport: FlakyTransport
) -> None:
    from reflective_client import sync as engine

    laptop, phone = two_devices
    written = [laptop.write(f"Entry number {n}.") for n in range(engine.BATCH_ITEMS + 5)]
    transport.requests.clear()
    seen: list[tuple[str, int, int]] = []
    report = await laptop.sync(lambda task, done, total: seen.append((task, done, total)))
    assert report.entries is not None and report.entries.pushed == len(written)
    posts = [path for method, path in transport.requests if method == "POST"]
    assert posts.count("/api/sync/batch") == 2 and "/api/sync/backup" not in posts
    pushing = [(done, total) for task, done, total in seen if task == engine.PUSH_TASK]
    assert pushing == [(0, len(written)), (engine.BATCH_ITEMS, len(written)), (len(written),) * 2]
    assert {e.state for e in laptop.store.entries()} == {CLEAN}
    await phone.sync()
    assert texts(phone) == texts(laptop)


async def test_a_lost_batch_answer_is_resent_without_duplicating(
    two_devices: tuple[Device, Device], transport: FlakyTransport
) -> None:
    laptop, phone = two_devices
    entries = [laptop.write("One."), laptop.write("Two."), laptop.write("Three.")]
    transport.lose_answer_once("POST", "/api/sync/batch")
    with pytest.raises(TransportError):
        await laptop.sync()
    await laptop.sync()  # the same ciphertexts again: unchanged on the server
    assert {e.state for e in laptop.store.entries()} == {CLEAN}
    for entry in entries:
        assert await server_revision(laptop, entry.id) == 1
    await phone.sync()
    assert sorted(texts(phone).values()) == ["One.", "Three.", "Two."]


async def test_conflicts_inside_a_batch_wait_for_the_user(
    two_devices: tuple[Device, Device],
) -> None:
    laptop, phone = two_devices
    shared = laptop.write("First draft.")
    await laptop.sync()
    await phone.sync()
    laptop.write("Laptop's edit.", shared.id)
    await laptop.sync()
    phone.write("Phone's edit.", shared.id)  # from revision 1: a conflict
    fresh = phone.write("Unrelated entry.")
    report = await phone.sync()
    assert report.entries is not None and len(report.entries.conflicts) == 1
    assert phone.store.get(shared.id).state == CONFLICT  # type: ignore[union-attr]
    assert phone.store.get(fresh.id).state == CLEAN  # type: ignore[union-attr]
