"""Packed metrics, the SDK's default: one ciphertext per metric type and UTC year.

Slot ``d`` of a year holds the sum of day ``d``'s values, slot ``366 + d`` its number of
entries (``reflective_domain.packed``). The server adds uploads of a year slot-wise; it
learns the year and the metric type, never a day or how many entries an upload carries.

Uploads are deltas. The device keeps a *ledger*: what the server's years hold of its
entries. A sync computes what they should hold (every live entry whose current version this
device wrote, not in conflict, measured), sends the difference for the days that changed
(an edit: new minus old; a deletion: minus the old value and one entry; an entry another
device edited since: minus this device's share, which the editor now answers for), and
updates the ledger once the server has acknowledged. The upload is kept locally before it
is sent; the server recognises a resent upload (same bytes), so an answer lost in transit is
settled by sending the same bytes again.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone

from reflective_client.analysis import SENTIMENT, WORD_COUNT
from reflective_client.crypto.keys import UserKeys
from reflective_client.errors import ApiError, NotFoundError, ServerError, TransportError
from reflective_client.http import AsyncReflectiveClient
from reflective_client.store import CONFLICT, Contribution, LocalStore
from reflective_domain.packed import COUNT_OFFSET, SLOTS_USED, days_in, slot_of
from reflective_protocol.encryption import PackedItem

Progress = Callable[[str, int, int], None]

EPSILON = 1e-9
"""Smaller changes than this are no change (values are word counts and scores)."""
CORRECTION_TOLERANCE = 1e-3
"""Decrypted sums carry CKKS noise far below this; a larger difference is a real one."""


def contributions(store: LocalStore) -> dict[str, Contribution]:
    """What the server's years should hold of this device's entries: every live, measured
    entry whose current version this device wrote and that is not in conflict (the
    server's current version of a conflicted entry is another device's)."""
    mine = store.device_id
    found: dict[str, Contribution] = {}
    for entry in store.entries():
        if (
            entry.device_id != mine
            or entry.state == CONFLICT
            or entry.word_count is None
            or entry.sentiment is None
        ):
            continue
        found[entry.id] = Contribution(
            _day(entry.created_at), float(entry.word_count), float(entry.sentiment)
        )
    return found


def _day(moment: datetime) -> date:
    return moment.astimezone(timezone.utc).date()


def _every_entry(store: LocalStore) -> dict[str, Contribution]:
    return {
        e.id: Contribution(_day(e.created_at), float(e.word_count), float(e.sentiment))
        for e in store.entries()
        if e.state != CONFLICT and e.word_count is not None and e.sentiment is not None
    }


def deltas(
    held: Mapping[str, Contribution], wanted: Mapping[str, Contribution]
) -> dict[tuple[str, int], list[float]]:
    """The slots to add per (metric type, year) to turn ``held`` into ``wanted``; years with
    no change are left out."""
    slots: dict[tuple[str, int], list[float]] = defaultdict(lambda: [0.0] * SLOTS_USED)

    def add(c: Contribution, sign: float) -> None:
        year, slot = c.day.year, slot_of(c.day)
        for metric_type, value in ((WORD_COUNT, c.word_count), (SENTIMENT, c.sentiment)):
            vector = slots[(metric_type, year)]
            vector[slot] += sign * value
            vector[COUNT_OFFSET + slot] += sign

    for entry_id in held.keys() | wanted.keys():
        old, new = held.get(entry_id), wanted.get(entry_id)
        if old == new:
            continue
        if old is not None:
            add(old, -1.0)
        if new is not None:
            add(new, 1.0)
    return {k: v for k, v in slots.items() if any(abs(x) > EPSILON for x in v)}


@dataclass(frozen=True, slots=True)
class RangeTotal:
    count: int
    total: float


def range_total(years: Mapping[int, list[float]], first: date, last: date) -> RangeTotal:
    """The sum and the entry count of the UTC days first..last, from decrypted years."""
    total, count = 0.0, 0.0
    for year, slots in years.items():
        if year < first.year or year > last.year:
            continue
        lo = slot_of(first) if year == first.year else 0
        hi = slot_of(last) if year == last.year else days_in(year) - 1
        total += sum(slots[lo : hi + 1])
        count += sum(slots[COUNT_OFFSET + lo : COUNT_OFFSET + hi + 1])
    return RangeTotal(round(count), total)


class PackedUploader:
    def __init__(self, api: AsyncReflectiveClient, store: LocalStore, keys: UserKeys) -> None:
        self.api, self.store, self.keys = api, store, keys

    async def flush(self, progress: Progress | None = None) -> int:
        """Settle a pending upload, then send what changed since; returns how many packed
        ciphertexts the server added."""
        added = await self._send_pending()
        wanted = contributions(self.store)
        held = self.store.packed_ledger()
        changed = deltas(held, wanted)
        if not changed:
            return added
        ckks = self.keys.ckks
        items = []
        for done, ((metric_type, year), slots) in enumerate(sorted(changed.items()), 1):
            items.append((metric_type, year, ckks.encrypt_slots(slots)))
            if progress is not None:
                progress("encrypting packed metrics", done, len(changed))
        ledger_changes = {
            entry_id: wanted.get(entry_id)
            for entry_id in held.keys() | wanted.keys()
            if held.get(entry_id) != wanted.get(entry_id)
        }
        with self.store.transaction():
            self.store.put_packed_pending(items)
            self.store.set_meta("packed_pending_ledger", _encode(ledger_changes))
        return added + await self._send_pending()

    async def correct(self, years: PackedYears, progress: Progress | None = None) -> int:
        """Upload the difference between every live entry's metrics (any device's; needs
        the whole journal, i.e. full_sync and a fresh pull) and what the server's years
        decrypt to. Ledgers are left as they are: each device's share stays its own."""
        truth = deltas({}, _every_entry(self.store))
        items = []
        for metric_type in (WORD_COUNT, SENTIMENT):
            held = await years.of(metric_type)
            for year in sorted(held.keys() | {y for kind, y in truth if kind == metric_type}):
                want = truth.get((metric_type, year), [0.0] * SLOTS_USED)
                have = held.get(year, [0.0] * SLOTS_USED)
                diff = [w - h for w, h in zip(want, have, strict=True)]
                if any(abs(x) > CORRECTION_TOLERANCE for x in diff):
                    items.append((metric_type, year, self.keys.ckks.encrypt_slots(diff)))
        if not items:
            return 0
        if progress is not None:
            progress("correcting packed metrics", len(items), len(items))
        with self.store.transaction():
            self.store.put_packed_pending(items)
            self.store.set_meta("packed_pending_ledger", _encode({}))
        return await self._send_pending()

    async def _send_pending(self) -> int:
        pending = self.store.packed_pending()
        if not pending:
            return 0
        uploads = [PackedItem(kind, year, ciphertext) for kind, year, ciphertext in pending]
        try:
            added = await self.api.upload_packed(uploads)
        except (TransportError, ServerError):
            raise  # outcome unknown: the same bytes are sent again next time
        except ApiError:
            with self.store.transaction():  # definitely refused: nothing was added
                self.store.clear_packed(ledger=False)
                self.store.set_meta("packed_pending_ledger", None)
            raise
        with self.store.transaction():
            self.store.update_packed_ledger(
                _decode(self.store.get_meta("packed_pending_ledger") or "")
            )
            self.store.clear_packed(ledger=False)
            self.store.set_meta("packed_pending_ledger", None)
        return added


class PackedYears:
    """The server's packed years of each metric type, fetched whole and decrypted once, so
    the server never learns which range was asked for."""

    def __init__(self, api: AsyncReflectiveClient, ckks: object) -> None:
        self.api, self.ckks = api, ckks
        self._years: dict[str, dict[int, list[float]]] = {}

    async def of(self, metric_type: str) -> dict[int, list[float]]:
        if metric_type not in self._years:
            try:
                found = await self.api.packed_years(metric_type)
            except NotFoundError:
                found = []
            self._years[metric_type] = {
                y.year: self.ckks.decrypt_slots(y.ciphertext, SLOTS_USED)  # type: ignore[attr-defined]
                for y in found
            }
        return self._years[metric_type]

    async def total(self, metric_type: str, first: date, last: date) -> RangeTotal:
        return range_total(await self.of(metric_type), first, last)


def _encode(changes: Mapping[str, Contribution | None]) -> str:
    return json.dumps(
        {
            k: None if c is None else [c.day.isoformat(), c.word_count, c.sentiment]
            for k, c in changes.items()
        }
    )


def _decode(raw: str) -> dict[str, Contribution | None]:
    if not raw:
        return {}
    return {
        k: None if v is None else Contribution(date.fromisoformat(v[0]), float(v[1]), float(v[2]))
        for k, v in json.loads(raw).items()
    }
