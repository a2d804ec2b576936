"""Packed metrics: upload a year of one metric type in one ciphertext (a delta, added
slot-wise to what is stored), and read the stored years back for the client to decrypt."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import date, datetime

from reflective_domain.errors import (
    InvalidCiphertext,
    LimitExceeded,
    NotFound,
    ValidationFailed,
)
from reflective_domain.metrics import check_metric_type
from reflective_domain.packed import (
    MAX_PACKED_PER_REQUEST,
    PACKED_UPLOAD_KEY_BYTES,
    PackedWindow,
    check_year,
    packed_upload_key,
    window_bytes,
)
from reflective_domain.ports import CiphertextValidator, HeAggregator
from reflective_domain.ports.he import ClientCiphertexts
from reflective_domain.ports.unit_of_work import UnitOfWorkFactory
from reflective_domain.tiers import CloudData
from reflective_domain.use_cases._ciphertexts import for_clients
from reflective_domain.use_cases._guards import confirm_metric_key, user_permitted
from reflective_domain.use_cases.metrics import MetricLimits


@dataclasses.dataclass(frozen=True, slots=True)
class PackedUpload:
    """One packed ciphertext as a client sends it: a delta for one metric type and year."""

    metric_type: str
    year: int
    ciphertext: bytes

    def __repr__(self) -> str:
        return f"PackedUpload({self.metric_type!r}, {self.year}, <{len(self.ciphertext)} bytes>)"


@dataclasses.dataclass(frozen=True, slots=True)
class PackedStored:
    """How many items a request held, how many were new (the rest were resent), and how
    many windows they touched."""

    received: int
    new: int
    windows: int


def _checked(index: int, item: PackedUpload) -> PackedUpload:
    try:
        check_metric_type(item.metric_type)
        check_year(item.year)
    except ValidationFailed as exc:
        raise ValidationFailed(f"packed.{index}.{exc.field}", exc.message) from exc
    return item


class UploadPackedMetrics:
    """Add packed deltas to the user's stored windows, all or nothing.

    Each ciphertext passes the same checks as a single-value metric (header, compressed size,
    a load under the user's own parameters, fresh: two polynomials, top level, the scale).
    A resent item (same type, year and bytes) is recognised and not added twice. The metric
    byte quota covers single-value metrics, packed windows and remembered uploads together.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        validator: CiphertextValidator,
        aggregator: HeAggregator,
        limits: MetricLimits,
    ) -> None:
        self._uow, self._validator, self._aggregator = uow, validator, aggregator
        self._limits = limits

    async def __call__(
        self,
        user_id: uuid.UUID,
        items: Sequence[PackedUpload],
        *,
        token_issued_at: datetime | None = None,
    ) -> PackedStored:
        if not items:
            raise ValidationFailed("packed", "packed must not be empty")
        if len(items) > MAX_PACKED_PER_REQUEST:
            raise LimitExceeded(f"at most {MAX_PACKED_PER_REQUEST} packed items per request")
        checked = [_checked(i, item) for i, item in enumerate(items)]
        async with self._uow() as uow:
            # Only the metric writers' lock, as the single-value upload: entry sync goes on
            # while ciphertexts are checked and added; the key is confirmed before commit.
            user = await user_permitted(
                uow, user_id, CloudData.METRICS, token_issued_at=token_issued_at
            )
            key = user.he_public_key
            assert key is not None  # a tier that keeps metrics always holds the key
            await uow.metrics.lock_writes(user_id)
            try:
                await self._validator.check_ciphertexts(
                    key.parameters, [item.ciphertext for item in checked]
                )
            except InvalidCiphertext as exc:
                raise InvalidCiphertext(exc.message, exc.index, ("packed", "ciphertext")) from exc
            keyed = [(packed_upload_key(i.metric_type, i.year, i.ciphertext), i) for i in checked]
            seen = await uow.packed_metrics.known_upload_keys(user_id, [k for k, _ in keyed])
            fresh: dict[bytes, PackedUpload] = {}
            for upload_key, item in keyed:
                if upload_key not in seen:
                    fresh.setdefault(upload_key, item)  # the same item twice counts once
            by_window: dict[tuple[str, int], list[bytes]] = {}
            for item in fresh.values():
                by_window.setdefault((item.metric_type, item.year), []).append(item.ciphertext)
            held = {
                (w.metric_type, w.year): w
                for w in await uow.packed_metrics.windows(user_id, list(by_window))
            }
            saved: list[PackedWindow] = []
            for (metric_type, year), deltas in by_window.items():
                old = held.get((metric_type, year))
                parts = ([old.ciphertext] if old else []) + deltas
                total = (
                    parts[0]
                    if len(parts) == 1
                    else await self._aggregator.add(key.parameters, parts)
                )
                uploads = (old.uploads if old else 0) + len(deltas)
                saved.append(PackedWindow(user_id, metric_type, year, uploads, total))
            growth = sum(window_bytes(w) for w in saved) - sum(
                window_bytes(held[(w.metric_type, w.year)])
                for w in saved
                if (w.metric_type, w.year) in held
            )
            growth += len(fresh) * PACKED_UPLOAD_KEY_BYTES
            if growth > 0:
                used = await uow.metrics.stored_bytes(
                    user_id
                ) + await uow.packed_metrics.stored_bytes(user_id)
                if used + growth > self._limits.max_bytes_per_user:
                    raise LimitExceeded(
                        f"metric quota exceeded: at most {self._limits.max_bytes_per_user} "
                        "bytes of metrics per account; delete metrics to make room"
                    )
            if saved:
                await uow.packed_metrics.save(saved)
                await uow.packed_metrics.add_upload_keys(user_id, list(fresh))
            await confirm_metric_key(uow, user_id, key)
            await uow.commit()
        return PackedStored(received=len(items), new=len(fresh), windows=len(saved))


class ReadPackedMetrics:
    """The stored windows of one metric type whose year meets [first, last] (inclusive UTC
    days, either end open). No arithmetic: each year is one ciphertext already; the client
    decrypts it and sums the slots of the days it wants."""

    def __init__(self, uow: UnitOfWorkFactory, ciphertexts: ClientCiphertexts) -> None:
        self._uow = uow
        self._ciphertexts = ciphertexts

    async def __call__(
        self,
        user_id: uuid.UUID,
        metric_type: str,
        first: date | None,
        last: date | None,
        *,
        token_issued_at: datetime | None = None,
    ) -> list[PackedWindow]:
        check_metric_type(metric_type)
        if first is not None and last is not None and last < first:
            raise ValidationFailed("end", "end is before start")
        async with self._uow() as uow:
            await user_permitted(uow, user_id, CloudData.METRICS, token_issued_at=token_issued_at)
            found = await uow.packed_metrics.between(
                user_id,
                metric_type,
                None if first is None else first.year,
                None if last is None else last.year,
            )
        if not found:
            raise NotFound(f"No packed {metric_type} metrics found in the requested range")
        # A year's sum is stored in the server's own encoding; clients get SEAL's.
        return await for_clients(self._ciphertexts, found)
