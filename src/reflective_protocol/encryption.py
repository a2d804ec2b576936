"""Homomorphic analytics: context, metric upload, aggregation."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from reflective_protocol.common import AwareDatetime, Base64, check_moments, doc

Operation = Literal["sum", "average"]

# The metric rules (reflective_domain.metrics) enforce these; stated here for the schema.
METRIC_TYPE_PATTERN = "^[a-z][a-z0-9_]{0,63}$"
METRIC_TYPE = doc(
    "What is measured: 1..64 of a-z, 0-9 and _, starting with a letter",
    ["mood_score"],
    pattern=METRIC_TYPE_PATTERN,
)


class ContextParams(msgspec.Struct):
    scheme: Annotated[str, doc('The homomorphic scheme: "CKKS"')]
    poly_modulus_degree: Annotated[int, doc("The ring dimension N (slots: N/2)")]
    coeff_mod_bit_sizes: Annotated[list[int], doc("Bit sizes of the coefficient moduli")]
    scale: Annotated[float, doc("The CKKS encoding scale")]


class ContextResponse(msgspec.Struct):
    """The parameters clients build their SEAL context from; ``serialized_context`` is the
    SEAL-native ``EncryptionParameters`` (base64), never a key."""

    context_params: Annotated[ContextParams, doc("The parameters, as numbers")]
    serialized_context: Annotated[
        Base64, doc("SEAL-native EncryptionParameters (base64); never a key")
    ]


class MetricItem(msgspec.Struct, omit_defaults=True):
    """One encrypted value: base64 of a SEAL-native ``Ciphertext`` (value in slot 0)."""

    metric_type: Annotated[str, METRIC_TYPE]
    encrypted_value: Annotated[
        Base64, doc("A SEAL-native Ciphertext (base64) under the user's key, value in slot 0")
    ]
    timestamp: Annotated[AwareDatetime, doc("When the value was measured")]
    # The entry the metric measures (the web client sends it): with it, a resent metric is
    # recognised and not counted twice. A string or a number, as clients send either.
    log_id: Annotated[
        str | int | None,
        doc(
            "The entry measured, at most 200 characters: a resent metric is not counted "
            "twice, a new one replaces the entry's earlier metric of that type",
            max_length=200,
            pattern=r"\S",
        ),
    ] = None

    def __post_init__(self) -> None:
        check_moments(timestamp=self.timestamp)

    def __repr__(self) -> str:
        return f"MetricItem({self.metric_type!r}, <{len(self.encrypted_value)} bytes>)"


class MetricsUpload(msgspec.Struct):
    """The body of ``POST /api/encryption/metrics``. The server reads it as a stream, item by
    item, so its schema is declared by hand in the route; this Struct is what clients send."""

    metrics: Annotated[list[MetricItem], doc("The metrics, stored all or nothing")]


class TimeRangeView(msgspec.Struct):
    """Inclusive at both ends."""

    start: Annotated[AwareDatetime, doc("The first moment included")]
    end: Annotated[AwareDatetime, doc("The last moment included")]

    def __post_init__(self) -> None:
        check_moments(start=self.start, end=self.end)


class AggregateRequest(msgspec.Struct, omit_defaults=True):
    metric_type: Annotated[str, METRIC_TYPE]
    operation: Annotated[Operation, doc("sum or average")]
    time_range: Annotated[
        TimeRangeView | None, doc("Only metrics measured in this range; absent: all")
    ] = None


class AggregateResponse(msgspec.Struct):
    """``encrypted_result``: base64 SEAL-native ciphertext, decryptable only by the client."""

    metric_type: Annotated[str, doc("What was aggregated")]
    encrypted_result: Annotated[
        Base64, doc("The sum or average, a SEAL-native Ciphertext (base64) only the user can read")
    ]
    count: Annotated[int, doc("Metrics aggregated")]
    operation: Annotated[str, doc("sum or average")]

    def __repr__(self) -> str:
        return f"AggregateResponse({self.metric_type!r}, count={self.count})"


class PackedItem(msgspec.Struct):
    """One packed delta: a SEAL-native ``Ciphertext`` (base64) carrying a UTC calendar year
    of one metric type, slot d = the change of day d's sum, slot 366 + d = the change of its
    entry count."""

    metric_type: Annotated[str, METRIC_TYPE]
    year: Annotated[int, doc("The UTC calendar year the slots cover", ge=1, le=9999)]
    ciphertext: Base64

    def __repr__(self) -> str:
        return f"PackedItem({self.metric_type!r}, {self.year}, <{len(self.ciphertext)} bytes>)"


class PackedUploadRequest(msgspec.Struct):
    """The body of ``POST /api/encryption/packed-metrics``."""

    packed: Annotated[
        list[PackedItem], doc("The deltas: at least one, at most 256 (413 beyond)", minItems=1)
    ]


class PackedWindowView(msgspec.Struct):
    """The encrypted slot-wise sum of every delta uploaded for one year."""

    year: Annotated[int, doc("The UTC calendar year")]
    uploads: Annotated[int, doc("How many deltas were added into it")]
    ciphertext: Base64

    def __repr__(self) -> str:
        return f"PackedWindowView({self.year}, uploads={self.uploads})"


class PackedAggregateResponse(msgspec.Struct):
    metric_type: Annotated[str, doc("The metric type asked for")]
    windows: Annotated[list[PackedWindowView], doc("Its stored years that meet the range")]

    def __repr__(self) -> str:
        return f"PackedAggregateResponse({self.metric_type!r}, {len(self.windows)} windows)"
