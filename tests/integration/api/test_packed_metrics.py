"""Packed metrics over HTTP, real PostgreSQL and real SEAL: a client holding the secret key
(the SDK's CKKS keys) packs a UTC year per ciphertext; the server adds years slot-wise and
never learns a day; everything it answers decrypts here to the plaintext truth."""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import date, timedelta
from typing import Any

import pytest

from reflective_client.crypto.he import CkksKeys
from reflective_domain.he_params import CkksParameters
from reflective_domain.packed import COUNT_OFFSET, SLOTS_USED, days_in, slot_of
from tests.integration.api.conftest import Account, Client, b64, set_tier

ORIGINAL = CkksParameters(8192, (60, 40, 40, 60), 2.0**40)

Journal = dict[date, list[float]]
"""The plaintext truth: the values of each day."""


async def _announced(client: Client) -> CkksParameters:
    params = (await client.get("/api/encryption/context")).json()["context_params"]
    return CkksParameters(
        params["poly_modulus_degree"], tuple(params["coeff_mod_bit_sizes"]), float(params["scale"])
    )


async def _analytics(client: Client, account: Account) -> CkksKeys:
    keys = CkksKeys.generate(await _announced(client))
    await set_tier(client, account, "analytics_sync", b64(keys.public_key_bytes))
    return keys


def _pack(keys: CkksKeys, year: int, days: Journal, sign: float = 1.0) -> str:
    slots = [0.0] * SLOTS_USED
    for day, values in days.items():
        assert day.year == year
        slots[slot_of(day)] += sign * sum(values)
        slots[COUNT_OFFSET + slot_of(day)] += sign * len(values)
    return b64(keys.encrypt_slots(slots))


def _by_year(journal: Journal) -> dict[int, Journal]:
    years: dict[int, Journal] = defaultdict(dict)
    for day, values in journal.items():
        years[day.year][day] = values
    return years


async def _upload(client: Client, account: Account, items: list[dict[str, Any]]) -> dict[str, Any]:
    response = await client.post(
        "/api/encryption/packed-metrics", json={"packed": items}, headers=account.headers
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def _upload_journal(
    client: Client, account: Account, keys: CkksKeys, journal: Journal, metric: str = "mood"
) -> None:
    items = [
        {"metric_type": metric, "year": year, "ciphertext": _pack(keys, year, days)}
        for year, days in sorted(_by_year(journal).items())
    ]
    await _upload(client, account, items)


async def _range(
    client: Client,
    account: Account,
    keys: CkksKeys,
    first: date,
    last: date,
    metric: str = "mood",
) -> tuple[int, float]:
    """Entries and sum of the days first..last, as the SDK computes them."""
    response = await client.get(
        "/api/encryption/packed-aggregate",
        params={"metric_type": metric, "start": first.isoformat(), "end": last.isoformat()},
        headers=account.headers,
    )
    assert response.status_code == 200, response.text
    count, total = 0.0, 0.0
    for window in response.json()["windows"]:
        year = window["year"]
        assert first.year <= year <= last.year
        slots = keys.decrypt_slots(base64.b64decode(window["ciphertext"]), SLOTS_USED)
        lo = slot_of(first) if year == first.year else 0
        hi = slot_of(last) if year == last.year else days_in(year) - 1
        total += sum(slots[lo : hi + 1])
        count += sum(slots[COUNT_OFFSET + lo : COUNT_OFFSET + hi + 1])
    return round(count), total


def _truth(journal: Journal, first: date, last: date) -> tuple[int, float]:
    inside = [v for day, values in journal.items() if first <= day <= last for v in values]
    return len(inside), sum(inside)


def _journal(start: date, days: int) -> Journal:
    """One or two entries a day with varied values (a day in five has two)."""
    journal: Journal = {}
    for n in range(days):
        day = start + timedelta(days=n)
        journal[day] = [round((n * 37 % 101) / 7.0 - 5, 3)] + ([n % 13 * 1.5] if n % 5 == 0 else [])
    return journal


RANGES = [
    (date(2025, 3, 3), date(2025, 3, 9)),  # a week inside one year
    (date(2025, 1, 1), date(2025, 12, 31)),  # exactly one year
    (date(2024, 12, 20), date(2025, 1, 10)),  # across the turn of a year
    (date(2024, 2, 29), date(2026, 2, 28)),  # two years and a bit, a leap day at its start
    (date(2026, 6, 30), date(2026, 6, 30)),  # one day
]


async def test_sums_and_averages_over_ranges_decrypt_to_the_truth(
    client: Client, user: Account
) -> None:
    keys = await _analytics(client, user)
    journal = _journal(date(2024, 1, 1), 3 * 366)  # 2024 (leap), 2025, 2026
    await _upload_journal(client, user, keys, journal)
    for first, last in RANGES:
        count, total = await _range(client, user, keys, first, last)
        want_count, want_total = _truth(journal, first, last)
        assert count == want_count
        assert total == pytest.approx(want_total, abs=1e-3)
        assert total / count == pytest.approx(want_total / want_count, abs=1e-6)


async def test_uploads_add_slot_wise_and_deltas_keep_stats_exact_after_edits_and_deletes(
    client: Client, user: Account
) -> None:
    keys = await _analytics(client, user)
    journal = _journal(date(2025, 1, 1), 365)
    await _upload_journal(client, user, keys, journal)
    # A second batch of the same year: new entries on days that already have some.
    more: Journal = {date(2025, 3, 4): [10.0], date(2025, 12, 31): [2.5, 3.5]}
    await _upload_journal(client, user, keys, more)
    for day, values in more.items():
        journal[day] = journal[day] + values
    # An edit (3 March: 10.0 becomes 4.0, same count) and a deletion (31 December: 3.5 and
    # its entry gone) travel as one delta: new minus old.
    edited, removed = date(2025, 3, 4), date(2025, 12, 31)
    slots = [0.0] * SLOTS_USED
    slots[slot_of(edited)] = 4.0 - 10.0
    slots[slot_of(removed)] = -3.5
    slots[COUNT_OFFSET + slot_of(removed)] = -1
    delta = b64(keys.encrypt_slots(slots))
    stored = await _upload(
        client, user, [{"metric_type": "mood", "year": 2025, "ciphertext": delta}]
    )
    assert stored["details"] == {"count": 1, "new": 1, "windows": 1}
    journal[edited] = [*journal[edited][:-1], 4.0]
    journal[removed] = journal[removed][:-1]
    for first, last in [
        (date(2025, 1, 1), date(2025, 12, 31)),
        (edited, edited),
        (removed, removed),
    ]:
        count, total = await _range(client, user, keys, first, last)
        want_count, want_total = _truth(journal, first, last)
        assert (count, total) == (want_count, pytest.approx(want_total, abs=1e-3))
    # The same delta again (an answer lost in transit) is recognised, not added twice.
    again = await _upload(
        client, user, [{"metric_type": "mood", "year": 2025, "ciphertext": delta}]
    )
    assert again["details"] == {"count": 1, "new": 0, "windows": 0}
    assert await _range(client, user, keys, edited, edited) == (
        len(journal[edited]),
        pytest.approx(sum(journal[edited]), abs=1e-3),
    )
    listed = await client.get(
        "/api/encryption/packed-aggregate", params={"metric_type": "mood"}, headers=user.headers
    )
    assert [(w["year"], w["uploads"]) for w in listed.json()["windows"]] == [(2025, 3)]


async def test_bad_ciphertexts_are_refused_naming_the_item_and_nothing_is_added(
    client: Client, user: Account
) -> None:
    keys = await _analytics(client, user)
    good = _pack(keys, 2025, {date(2025, 5, 1): [1.0]})
    foreign = _pack(CkksKeys.generate(ORIGINAL), 2025, {date(2025, 5, 1): [1.0]})
    rescaled_scale = CkksKeys.generate(
        CkksParameters(
            keys.parameters.poly_modulus_degree, keys.parameters.coeff_mod_bit_sizes, 2.0**30
        )
    )
    cases = {
        "garbage": b64(b"not a ciphertext at all" * 10),
        "other parameters": foreign,
        "other scale": _pack(rescaled_scale, 2025, {date(2025, 5, 1): [1.0]}),
    }
    for name, bad in cases.items():
        items = [
            {"metric_type": "mood", "year": 2025, "ciphertext": good},
            {"metric_type": "mood", "year": 2025, "ciphertext": bad},
        ]
        response = await client.post(
            "/api/encryption/packed-metrics", json={"packed": items}, headers=user.headers
        )
        assert response.status_code == 422, name
        (error,) = response.json()["detail"]
        assert error["loc"] == ["body", "packed", 1, "ciphertext"], name
    missing = await client.get(
        "/api/encryption/packed-aggregate", params={"metric_type": "mood"}, headers=user.headers
    )
    assert missing.status_code == 404  # the good item of each refused request was not kept
    for item, field in [
        ({"metric_type": "Mood!", "year": 2025, "ciphertext": good}, "metric_type"),
        ({"metric_type": "mood", "year": 0, "ciphertext": good}, "year"),
    ]:
        response = await client.post(
            "/api/encryption/packed-metrics", json={"packed": [item]}, headers=user.headers
        )
        assert response.status_code == 422, field
        assert field in str(response.json()["detail"])


async def test_other_users_and_tiers_are_kept_apart(
    client: Client, user: Account, other_user: Account
) -> None:
    keys = await _analytics(client, user)
    await _upload_journal(client, user, keys, {date(2025, 5, 1): [7.0]})
    # local_only: no packed metrics, either way.
    refused = await client.post(
        "/api/encryption/packed-metrics",
        json={
            "packed": [{"metric_type": "mood", "year": 2025, "ciphertext": _pack(keys, 2025, {})}]
        },
        headers=other_user.headers,
    )
    assert refused.status_code == 403
    other_keys = await _analytics(client, other_user)
    read = await client.get(
        "/api/encryption/packed-aggregate",
        params={"metric_type": "mood"},
        headers=other_user.headers,
    )
    assert read.status_code == 404  # the first user's year is not the other's
    # A ciphertext made under the first user's key is well-formed under the same parameters
    # (the server cannot tell keys apart): the other user may add it, but only to their own
    # years, which it garbles for them alone; the first user's sums are untouched.
    theirs = await client.post(
        "/api/encryption/packed-metrics",
        json={
            "packed": [
                {
                    "metric_type": "mood",
                    "year": 2025,
                    "ciphertext": _pack(keys, 2025, {date(2025, 5, 1): [1.0]}),
                }
            ]
        },
        headers=other_user.headers,
    )
    assert theirs.status_code == 201
    await _upload_journal(client, other_user, other_keys, {date(2025, 5, 2): [1.0]})
    assert await _range(client, user, keys, date(2025, 1, 1), date(2025, 12, 31)) == (
        1,
        pytest.approx(7.0, abs=1e-3),
    )
    # The export holds the user's packed years, and only theirs.
    exported = (await client.get("/api/users/me/export", headers=user.headers)).json()
    assert [(p["metric_type"], p["year"], p["uploads"]) for p in exported["packed_metrics"]] == [
        ("mood", 2025, 1)
    ]
    # A downgrade to local_only deletes packed metrics with the rest.
    await set_tier(client, user, "local_only")
    await _analytics(client, user)
    gone = await client.get(
        "/api/encryption/packed-aggregate", params={"metric_type": "mood"}, headers=user.headers
    )
    assert gone.status_code == 404


async def test_packed_metrics_count_against_the_metric_byte_quota(
    app_with: Callable[..., AbstractAsyncContextManager[Client]],
) -> None:
    from tests.integration.api.conftest import sign_up

    async with app_with(metric_quota_bytes=300_000) as client:
        account = await sign_up(client)
        keys = await _analytics(client, account)
        # One year fits (a seeded ciphertext of ~115 KB under the lean parameters)...
        await _upload_journal(client, account, keys, {date(2025, 5, 1): [1.0]})
        # ...adding to it makes the window a full ciphertext (~235 KB), which fits too...
        await _upload_journal(client, account, keys, {date(2025, 5, 2): [2.0]})
        # ...a second year does not fit.
        item = {
            "metric_type": "mood",
            "year": 2026,
            "ciphertext": _pack(keys, 2026, {date(2026, 1, 1): [1.0]}),
        }
        response = await client.post(
            "/api/encryption/packed-metrics", json={"packed": [item]}, headers=account.headers
        )
        assert response.status_code == 413, response.text
        assert "quota" in response.json()["detail"]
        assert await _range(client, account, keys, date(2025, 1, 1), date(2026, 12, 31)) == (
            2,
            pytest.approx(3.0, abs=1e-3),
        )
