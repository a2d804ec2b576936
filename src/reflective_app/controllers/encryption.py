"""Homomorphic analytics: the CKKS context, encrypted metric upload and aggregation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import JSONBody

from reflective_app.bodies import decode_body, read_body
from reflective_app.dto.common import Message
from reflective_app.dto.encryption import (
    METRICS_UPLOAD_DECODER,
    AggregateRequest,
    AggregateResponse,
    ContextResponse,
)
from reflective_app.injected import AggregatorDep, ParametersDep, SettingsDep, UserId
from reflective_app.limits import rate_limit
from reflective_app.openapi import BEARER_AUTH
from reflective_domain.use_cases.metrics import Aggregate, UploadMetrics

_STRING = Schema(type=OpenAPIType.STRING)
_METRICS_UPLOAD_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["metrics"],
    properties={
        "metrics": Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(
                type=OpenAPIType.OBJECT,
                required=["metric_type", "encrypted_value", "timestamp"],
                properties={
                    "metric_type": Schema(
                        type=OpenAPIType.STRING, pattern="^[a-z][a-z0-9_]{0,63}$"
                    ),
                    "encrypted_value": Schema(
                        type=OpenAPIType.STRING,
                        description="base64 of a SEAL-native serialized Ciphertext",
                    ),
                    "timestamp": Schema(type=OpenAPIType.STRING, format="date-time"),  # type: ignore[arg-type]
                    "log_id": Schema(
                        one_of=[Schema(type=OpenAPIType.STRING), Schema(type=OpenAPIType.INTEGER)],
                        description="the entry measured; a resent metric with the same log_id, "
                        "type and ciphertext is recognised and not stored twice",
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

    @get("/context", operation_id="get_encryption_context")
    async def context(
        self, ckks_parameters: ParametersDep, he_aggregator: AggregatorDep
    ) -> ContextResponse:
        """The CKKS parameters clients must encrypt metrics under (no authentication).
        ``serialized_context`` carries encryption parameters only, never a key."""
        return ContextResponse.of(
            ckks_parameters, he_aggregator.serialized_context(ckks_parameters)
        )

    @post(
        "/metrics",
        status_code=201,
        operation_id="upload_metrics",
        security=BEARER_AUTH,
        request_max_body_size=None,  # capped by MAX_METRICS_BODY_BYTES in read_body
        operation_class=_MetricsUploadOperation,
        guards=[rate_limit("metrics_upload", per="user")],
    )
    async def upload_metrics(
        self,
        request: Request[Any, Any, Any],
        user_id: UserId,
        upload_metrics: NamedDependency[UploadMetrics],
        settings: SettingsDep,
    ) -> Message:
        """Store a batch of encrypted metrics, all or nothing. 403 on local_only; 422 naming
        the index of the first ciphertext that does not load under the user's parameters;
        413 beyond the body limit."""
        await upload_metrics.permit(user_id)  # before reading what may be hundreds of MB
        body = await read_body(request, settings.max_metrics_body_bytes)
        upload = decode_body(METRICS_UPLOAD_DECODER, body)
        del body  # the decoded ciphertexts are copies; free the raw body now
        stored = await upload_metrics(user_id, [item.to_domain() for item in upload.metrics])
        resent = stored.received - stored.new
        message = f"Stored {stored.new} encrypted metrics" + (
            f" ({resent} already stored)" if resent else ""
        )
        return Message(
            success=True, message=message, details={"count": stored.received, "new": stored.new}
        )

    @post(
        "/aggregate",
        status_code=200,
        operation_id="aggregate_metrics",
        security=BEARER_AUTH,
        guards=[rate_limit("aggregate", per="user")],
    )
    async def aggregate(
        self,
        user_id: UserId,
        data: JSONBody[AggregateRequest],
        aggregate: NamedDependency[Aggregate],
    ) -> AggregateResponse:
        """The encrypted sum or average of one metric type, optionally within an inclusive
        time range; only the client can decrypt it. 404 when no metric is in range."""
        return AggregateResponse.of(await aggregate(user_id, data.to_domain()))
