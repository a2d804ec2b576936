"""Homomorphic analytics: context, metric upload, aggregation."""

from __future__ import annotations

from typing import Literal

import msgspec

from reflective_app.dto.common import AwareDatetime, Base64, check_moments
from reflective_domain.he_params import CkksParameters
from reflective_domain.metrics import AggregationRequest, Operation, TimeRange
from reflective_domain.packed import PackedWindow
from reflective_domain.use_cases.metrics import AggregateResult, MetricUpload
from reflective_domain.use_cases.packed_metrics import PackedUpload


class ContextParams(msgspec.Struct):
    scheme: str
    poly_modulus_degree: int
    coeff_mod_bit_sizes: list[int]
    scale: float


class ContextResponse(msgspec.Struct):
    """The parameters clients build their SEAL context from; ``serialized_context`` is the
    SEAL-native ``EncryptionParameters`` (base64), never a key."""

    context_params: ContextParams
    serialized_context: Base64

    @classmethod
    def of(cls, parameters: CkksParameters, serialized: bytes) -> ContextResponse:
        return cls(
            context_params=ContextParams(
                scheme="CKKS",
                poly_modulus_degree=parameters.poly_modulus_degree,
                coeff_mod_bit_sizes=list(parameters.coeff_mod_bit_sizes),
                scale=parameters.scale,
            ),
            serialized_context=serialized,
        )


class MetricItem(msgspec.Struct):
    """One encrypted value: base64 of a SEAL-native ``Ciphertext`` (value in slot 0)."""

    metric_type: str
    encrypted_value: Base64
    timestamp: AwareDatetime
    # The entry the metric measures (the web client sends it): with it, a resent metric is
    # recognised and not counted twice. A string or a number, as clients send either.
    log_id: str | int | None = None

    def __post_init__(self) -> None:
        check_moments(timestamp=self.timestamp)

    def __repr__(self) -> str:
        return f"MetricItem({self.metric_type!r}, <{len(self.encrypted_value)} bytes>)"

    def to_domain(self) -> MetricUpload:
        log_id = None if self.log_id is None else str(self.log_id)
        return MetricUpload(self.metric_type, self.timestamp, self.encrypted_value, log_id)


class TimeRangeView(msgspec.Struct):
    """Inclusive at both ends."""

    start: AwareDatetime
    end: AwareDatetime

    def __post_init__(self) -> None:
        check_moments(start=self.start, end=self.end)


class AggregateRequest(msgspec.Struct):
    metric_type: str
    operation: Literal["sum", "average"]
    time_range: TimeRangeView | None = None

    def to_domain(self) -> AggregationRequest:
        time_range = (
            None
            if self.time_range is None
            else TimeRange(self.time_range.start, self.time_range.end)
        )
        return AggregationRequest(self.metric_type, Operation(self.operation), time_range)


class AggregateResponse(msgspec.Struct):
    """``encrypted_result``: base64 SEAL-native ciphertext, decryptable only by the client."""

    metric_type: str
    encrypted_result: Base64
    count: int
    operation: str

    @classmethod
    def of(cls, result: AggregateResult) -> AggregateResponse:
        return cls(
            metric_type=result.metric_type,
            encrypted_result=result.ciphertext,
            count=result.count,
            operation=result.operation.value,
        )

    def __repr__(self) -> str:
        return f"AggregateResponse({self.metric_type!r}, count={self.count})"


class PackedItem(msgspec.Struct):
    """One packed delta: a SEAL-native ``Ciphertext`` (base64) carrying a UTC calendar year
    of one metric type, slot d = the change of day d's sum, slot 366 + d = the change of its
    entry count."""

    metric_type: str
    year: int
    ciphertext: Base64

    def __repr__(self) -> str:
        return f"PackedItem({self.metric_type!r}, {self.year}, <{len(self.ciphertext)} bytes>)"

    def to_domain(self) -> PackedUpload:
        return PackedUpload(self.metric_type, self.year, self.ciphertext)


class PackedUploadRequest(msgspec.Struct):
    packed: list[PackedItem]

    def to_domain(self) -> list[PackedUpload]:
        return [item.to_domain() for item in self.packed]


class PackedWindowView(msgspec.Struct):
    """The encrypted slot-wise sum of every delta uploaded for one year."""

    year: int
    uploads: int
    ciphertext: Base64

    def __repr__(self) -> str:
        return f"PackedWindowView({self.year}, uploads={self.uploads})"


class PackedAggregateResponse(msgspec.Struct):
    metric_type: str
    windows: list[PackedWindowView]

    @classmethod
    def of(cls, metric_type: str, windows: list[PackedWindow]) -> PackedAggregateResponse:
        return cls(
            metric_type=metric_type,
            windows=[PackedWindowView(w.year, w.uploads, w.ciphertext) for w in windows],
        )

    def __repr__(self) -> str:
        return f"PackedAggregateResponse({self.metric_type!r}, {len(self.windows)} windows)"
