"""Homomorphic analytics: the CKKS context, encrypted metric upload and aggregation."""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import JSONBody, Parameter

from reflective_app.bodies import body_chunks, large_upload
from reflective_app.dto.encryption import (
    aggregate_response,
    aggregation_request,
    context_response,
    packed_aggregate_response,
    packed_uploads,
)
from reflective_app.injected import AggregatorDep, Caller, ParametersDep, SettingsDep
from reflective_app.limits import rate_limit
from reflective_app.metric_stream import metric_uploads
from reflective_app.openapi import BEARER_AUTH, documented
from reflective_domain.metrics import MAX_LOG_ID_LENGTH
from reflective_domain.use_cases.metrics import Aggregate, RetractMetrics, UploadMetrics
from reflective_domain.use_cases.packed_metrics import ReadPackedMetrics, UploadPackedMetrics
from reflective_protocol.common import Message
from reflective_protocol.encryption import (
    METRIC_TYPE,
    METRIC_TYPE_PATTERN,
    AggregateRequest,
    AggregateResponse,
    ContextResponse,
    PackedAggregateResponse,
    PackedUploadRequest,
)
from reflective_protocol.errors import ErrorCode

_STRING = Schema(type=OpenAPIType.STRING)
# A packed request holds at most 256 ciphertexts of at most ~1 MB of base64 each.
PACKED_BODY_LIMIT = 300 * 1024 * 1024
_METRICS_UPLOAD_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["metrics"],
    properties={
        "metrics": Schema(
            type=OpenAPIType.ARRAY,
            description="The metrics, stored all or nothing",
            items=Schema(
                type=OpenAPIType.OBJECT,
                required=["metric_type", "encrypted_value", "timestamp"],
                properties={
                    "metric_type": Schema(
                        type=OpenAPIType.STRING,
                        pattern=METRIC_TYPE_PATTERN,
                        description=METRIC_TYPE.description,
                    ),
                    "encrypted_value": Schema(
                        type=OpenAPIType.STRING,
                        description="base64 of a SEAL-native serialized Ciphertext",
                    ),
                    "timestamp": Schema(
                        type=OpenAPIType.STRING,
                        format="date-time",  # type: ignore[arg-type]
                        description="When the value was measured (Z or an offset)",
                    ),
                    "log_id": Schema(
                        one_of=[
                            Schema(
                                type=OpenAPIType.STRING,
                                max_length=MAX_LOG_ID_LENGTH,
                                pattern=r"\S",
                            ),
                            Schema(type=OpenAPIType.INTEGER),
                        ],
                        description="the entry measured; a resent metric with the same log_id, "
                        "type and ciphertext is recognised and not stored twice, a new one "
                        "replaces the entry's earlier metric of that type",
                    ),
                },
            ),
        )
    },
)


@dataclass
class _MetricsUploadOperation(Operation):
    """The upload route reads its body itself, so its schema is declared here."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            content={"application/json": OpenAPIMediaType(schema=_METRICS_UPLOAD_SCHEMA)},
        )


class EncryptionController(Controller):
    path = "/api/encryption"
    tags = ["encryption"]

    @get(
        "/context",
        operation_id="get_encryption_context",
        **documented("Read the CKKS encryption parameters"),
    )
    async def context(
        self, ckks_parameters: ParametersDep, he_aggregator: AggregatorDep
    ) -> ContextResponse:
        """The CKKS parameters clients must encrypt metrics under (no authentication).
        ``serialized_context`` carries encryption parameters only, never a key."""
        return context_response(ckks_parameters, he_aggregator.serialized_context(ckks_parameters))

    @post(
        "/metrics",
        status_code=201,
        operation_id="upload_metrics",
        **documented(
            "Upload encrypted metrics",
            ErrorCode.FORBIDDEN_BY_TIER,
            ErrorCode.QUOTA_EXCEEDED,
            ErrorCode.RATE_LIMITED,
            ErrorCode.CONCURRENT_UPDATE,
            operation=_MetricsUploadOperation,
        ),
        security=BEARER_AUTH,
        request_max_body_size=None,  # capped by MAX_METRICS_BODY_BYTES in body_chunks
        guards=[rate_limit("metrics_upload", per="user")],
    )
    async def upload_metrics(
        self,
        request: Request[Any, Any, Any],
        caller: Caller,
        upload_metrics: NamedDependency[UploadMetrics],
        settings: SettingsDep,
    ) -> Message:
        """Store a batch of encrypted metrics, all or nothing. 403 on local_only; 422 naming
        the index of the first ciphertext that does not load under the user's parameters;
        413 beyond the body limit or the account's metric quota; 503 with Retry-After when
        this worker is already reading its share of large uploads."""
        async with large_upload(request):  # 503 at once when this worker has no slot
            # Before reading what may be gigabytes; the same read checks the token.
            await upload_metrics.permit(caller.user_id, token_issued_at=caller.issued_at)
            # Parsed, validated and written as it arrives, one chunk of metrics at a time;
            # any error, a client gone half-way included, rolls the whole upload back.
            limit = settings.max_metrics_body_bytes
            async with (
                aclosing(body_chunks(request, limit, admitted=True)) as chunks,
                aclosing(metric_uploads(chunks)) as items,
            ):
                stored = await upload_metrics.stream(caller.user_id, items)
        resent = stored.received - stored.new
        message = f"Stored {stored.new} encrypted metrics" + (
            f" ({resent} already stored)" if resent else ""
        )
        if stored.replaced:
            message += f", replacing {stored.replaced}"
        return Message(
            success=True,
            message=message,
            details={"count": stored.received, "new": stored.new, "replaced": stored.replaced},
        )

    @delete(
        "/metrics",
        status_code=200,
        operation_id="retract_metrics",
        **documented("Retract one entry's metrics", ErrorCode.FORBIDDEN_BY_TIER),
        security=BEARER_AUTH,
    )
    async def retract_metrics(
        self,
        caller: Caller,
        retract_metrics: NamedDependency[RetractMetrics],
        log_id: Annotated[
            str | None,
            Parameter(
                description="The entry whose metrics to retract (required), at most "
                f"{MAX_LOG_ID_LENGTH} characters",
                schema_extra={"max_length": MAX_LOG_ID_LENGTH, "pattern": r"\S"},
            ),
        ] = None,
    ) -> Message:
        """Retract every metric of one entry (``log_id``): they leave every sum and average.
        Answers how many were removed (0 when none was stored)."""
        if log_id is None:  # checked here, after authentication, rather than by the framework
            raise ValidationException(
                detail="Validation failed",
                extra=[{"message": "log_id is required", "key": "log_id", "source": "query"}],
            )
        deleted = await retract_metrics(caller.user_id, log_id, token_issued_at=caller.issued_at)
        return Message(
            success=True,
            message=f"Retracted {deleted} encrypted metrics",
            details={"deleted": deleted},
        )

    @post(
        "/aggregate",
        status_code=200,
        operation_id="aggregate_metrics",
        **documented(
            "Sum or average a metric, encrypted",
            ErrorCode.FORBIDDEN_BY_TIER,
            ErrorCode.NOT_FOUND,
            ErrorCode.RATE_LIMITED,
        ),
        security=BEARER_AUTH,
        guards=[rate_limit("aggregate", per="user")],
    )
    async def aggregate(
        self,
        caller: Caller,
        data: JSONBody[AggregateRequest],
        aggregate: NamedDependency[Aggregate],
    ) -> AggregateResponse:
        """The encrypted sum or average of one metric type, optionally within an inclusive
        time range; only the client can decrypt it. 404 when no metric is in range."""
        result = await aggregate(
            caller.user_id, aggregation_request(data), token_issued_at=caller.issued_at
        )
        return aggregate_response(result)

    @post(
        "/packed-metrics",
        status_code=201,
        operation_id="upload_packed_metrics",
        **documented(
            "Add packed yearly metrics",
            ErrorCode.FORBIDDEN_BY_TIER,
            ErrorCode.QUOTA_EXCEEDED,
            ErrorCode.RATE_LIMITED,
            ErrorCode.CONCURRENT_UPDATE,
        ),
        security=BEARER_AUTH,
        request_max_body_size=PACKED_BODY_LIMIT,
        guards=[rate_limit("metrics_upload", per="user")],
    )
    async def upload_packed_metrics(
        self,
        caller: Caller,
        data: JSONBody[PackedUploadRequest],
        upload_packed_metrics: NamedDependency[UploadPackedMetrics],
    ) -> Message:
        """Add packed deltas (one ciphertext per metric type and UTC year, a day per slot)
        to the stored years, slot-wise, all or nothing. A resent item is recognised and not
        added twice. 403 on local_only; 422 naming the index of the first ciphertext that is
        not a fresh ciphertext under the user's parameters; 413 beyond the metric quota."""
        stored = await upload_packed_metrics(
            caller.user_id, packed_uploads(data), token_issued_at=caller.issued_at
        )
        return Message(
            success=True,
            message=f"Added {stored.new} packed metrics to {stored.windows} years"
            + (
                f" ({stored.received - stored.new} already added)"
                if stored.new < stored.received
                else ""
            ),
            details={"count": stored.received, "new": stored.new, "windows": stored.windows},
        )

    @get(
        "/packed-aggregate",
        operation_id="read_packed_metrics",
        **documented(
            "Read the packed years of a metric, encrypted",
            ErrorCode.FORBIDDEN_BY_TIER,
            ErrorCode.NOT_FOUND,
            ErrorCode.RATE_LIMITED,
        ),
        security=BEARER_AUTH,
        guards=[rate_limit("aggregate", per="user")],
    )
    async def packed_aggregate(
        self,
        caller: Caller,
        read_packed_metrics: NamedDependency[ReadPackedMetrics],
        metric_type: Annotated[
            str | None, Parameter(description="the metric type (required)")
        ] = None,
        start: Annotated[date | None, Parameter(description="first UTC day (inclusive)")] = None,
        end: Annotated[date | None, Parameter(description="last UTC day (inclusive)")] = None,
    ) -> PackedAggregateResponse:
        """The encrypted years of one packed metric type that meet [start, end]: per year,
        the slot-wise sum of its deltas. The client decrypts them and sums the slots of its
        days (values in slots 0..365, entry counts in 366..731). 404 when none is stored."""
        if metric_type is None:  # checked here, after authentication, as log_id above
            raise ValidationException(
                detail="Validation failed",
                extra=[
                    {"message": "metric_type is required", "key": "metric_type", "source": "query"}
                ],
            )
        windows = await read_packed_metrics(
            caller.user_id, metric_type, start, end, token_issued_at=caller.issued_at
        )
        return packed_aggregate_response(metric_type, windows)
