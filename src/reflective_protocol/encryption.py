"""Homomorphic analytics: context, metric upload, aggregation."""

from __future__ import annotations

from typing import Literal

import msgspec

from reflective_protocol.common import AwareDatetime, Base64, check_moments

Operation = Literal["sum", "average"]


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


class MetricItem(msgspec.Struct, omit_defaults=True):
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


class MetricsUpload(msgspec.Struct):
    """The body of ``POST /api/encryption/metrics``. The server reads it as a stream, item by
    item, so its schema is declared by hand in the route; this Struct is what clients send."""

    metrics: list[MetricItem]


class TimeRangeView(msgspec.Struct):
    """Inclusive at both ends."""

    start: AwareDatetime
    end: AwareDatetime

    def __post_init__(self) -> None:
        check_moments(start=self.start, end=self.end)


class AggregateRequest(msgspec.Struct, omit_defaults=True):
    metric_type: str
    operation: Operation
    time_range: TimeRangeView | None = None


class AggregateResponse(msgspec.Struct):
    """``encrypted_result``: base64 SEAL-native ciphertext, decryptable only by the client."""

    metric_type: str
    encrypted_result: Base64
    count: int
    operation: str

    def __repr__(self) -> str:
        return f"AggregateResponse({self.metric_type!r}, count={self.count})"
