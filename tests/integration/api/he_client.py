"""The web client's side of HE in tests: the node-seal vectors, and decryption with the
client's secret key (which only ever exists here, never on the server)."""

from __future__ import annotations

import base64
from typing import Any

from reflective_domain.he_params import CkksParameters
from tests.unit.he.client_side import SealClient


def metric_payload(metric: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """One upload item as the web client sends it (it adds fields such as ``log_id``)."""
    return {
        "metric_type": metric["metric_type"],
        "encrypted_value": metric["encrypted_value"],
        "timestamp": metric["timestamp"],
        **extra,
    }


def decrypt(vectors: dict[str, Any], encrypted_result: str) -> float:
    params = vectors["context_params"]
    parameters = CkksParameters(
        params["poly_modulus_degree"], tuple(params["coeff_mod_bit_sizes"]), float(params["scale"])
    )
    client = SealClient(parameters, secret_key=base64.b64decode(vectors["secret_key"]))
    return client.decrypt(base64.b64decode(encrypted_result))
