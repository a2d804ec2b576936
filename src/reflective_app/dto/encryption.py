"""Homomorphic analytics: context, metric upload, aggregation."""

from __future__ import annotations

from reflective_domain.he_params import CkksParameters
from reflective_domain.metrics import AggregationRequest, Operation, TimeRange
from reflective_domain.use_cases.metrics import AggregateResult, MetricUpload
from reflective_protocol.encryption import (
    AggregateRequest,
    AggregateResponse,
    ContextParams,
    ContextResponse,
    MetricItem,
)


def context_response(parameters: CkksParameters, serialized: bytes) -> ContextResponse:
    return ContextResponse(
        context_params=ContextParams(
            scheme="CKKS",
            poly_modulus_degree=parameters.poly_modulus_degree,
            coeff_mod_bit_sizes=list(parameters.coeff_mod_bit_sizes),
            scale=parameters.scale,
        ),
        serialized_context=serialized,
    )


def metric_upload(item: MetricItem) -> MetricUpload:
    log_id = None if item.log_id is None else str(item.log_id)
    return MetricUpload(item.metric_type, item.timestamp, item.encrypted_value, log_id)


def aggregation_request(request: AggregateRequest) -> AggregationRequest:
    span = request.time_range
    time_range = None if span is None else TimeRange(span.start, span.end)
    return AggregationRequest(request.metric_type, Operation(request.operation), time_range)


def aggregate_response(result: AggregateResult) -> AggregateResponse:
    return AggregateResponse(
        metric_type=result.metric_type,
        encrypted_result=result.ciphertext,
        count=result.count,
        operation=result.operation.value,
    )
