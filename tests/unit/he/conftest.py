from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from reflective_adapters.he import SealAggregator, SealCiphertextValidator
from reflective_domain.he_params import CkksParameters
from tests.unit.he.client_side import SealClient

VECTORS = Path(__file__).resolve().parents[2] / "data" / "he_ckks_node_seal_6.json"


@dataclass(frozen=True)
class VectorMetric:
    metric_type: str
    value: float
    timestamp: datetime
    ciphertext: bytes


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS.read_text())
    return data


@pytest.fixture(scope="session")
def parameters(vectors: dict[str, Any]) -> CkksParameters:
    params = vectors["context_params"]
    assert params["scheme"] == "CKKS"
    return CkksParameters(
        params["poly_modulus_degree"], tuple(params["coeff_mod_bit_sizes"]), float(params["scale"])
    )


@pytest.fixture(scope="session")
def metrics(vectors: dict[str, Any]) -> list[VectorMetric]:
    return [
        VectorMetric(
            m["metric_type"],
            m["value"],
            datetime.fromisoformat(m["timestamp"].replace("Z", "+00:00")),
            base64.b64decode(m["encrypted_value"]),
        )
        for m in vectors["metrics"]
    ]


@pytest.fixture(scope="session")
def ciphertexts(metrics: list[VectorMetric]) -> list[bytes]:
    return [m.ciphertext for m in metrics]


@pytest.fixture(scope="session")
def public_key(vectors: dict[str, Any]) -> bytes:
    return base64.b64decode(vectors["public_key"])


@pytest.fixture(scope="session")
def client(vectors: dict[str, Any], parameters: CkksParameters, public_key: bytes) -> SealClient:
    """The web client the vectors came from, acting with its own keys."""
    return SealClient(parameters, base64.b64decode(vectors["secret_key"]), public_key)


@pytest.fixture
def validator() -> SealCiphertextValidator:
    return SealCiphertextValidator()


@pytest.fixture
def aggregator() -> SealAggregator:
    return SealAggregator()
