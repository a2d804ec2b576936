"""End to end with a client that uses TenSEAL itself: keys made here, as on a device; the
server gets only the public key and ciphertexts, and its answers decrypt here."""

from __future__ import annotations

import base64
import os
import tempfile
from pathlib import Path
from typing import Any

import tenseal as ts

from reflective_domain.he_params import CkksParameters
from tests.integration.api.conftest import Account, Client, set_tier
from tests.unit.he.client_side import SealClient


def _seal_bytes(obj: Any) -> bytes:
    """SEAL-native bytes of a TenSEAL-held SEAL object (what node-seal's save() makes)."""
    fd, path = tempfile.mkstemp(suffix=".seal")
    os.close(fd)
    try:
        obj.save(path)
        return Path(path).read_bytes()
    finally:
        os.unlink(path)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_tenseal_client_uploads_aggregates_and_decrypts(
    client: Client, user: Account
) -> None:
    announced = (await client.get("/api/encryption/context")).json()["context_params"]
    context = ts.context(
        ts.SCHEME_TYPE.CKKS,
        announced["poly_modulus_degree"],
        coeff_mod_bit_sizes=announced["coeff_mod_bit_sizes"],
    )
    context.global_scale = announced["scale"]
    await set_tier(client, user, "analytics_sync", b64(_seal_bytes(context.public_key().data)))

    days = ["2026-10-01T08:00:00Z", "2026-10-01T21:00:00+02:00", "2026-10-03T12:30:00Z"]
    values = [120.0, 80.5, 300.25]
    metrics = [
        {
            "metric_type": "word_count",
            "timestamp": day,
            "encrypted_value": b64(_seal_bytes(ts.ckks_vector(context, [v]).ciphertext()[0])),
        }
        for day, v in zip(days, values, strict=True)
    ]
    uploaded = await client.post(
        "/api/encryption/metrics", json={"metrics": metrics}, headers=user.headers
    )
    assert uploaded.status_code == 201, uploaded.text

    device = SealClient(CkksParameters.default(), secret_key=_seal_bytes(context.secret_key().data))

    async def aggregate(operation: str, **time_range: str) -> tuple[float, int]:
        body: dict[str, Any] = {"metric_type": "word_count", "operation": operation}
        if time_range:
            body["time_range"] = time_range
        answer = await client.post("/api/encryption/aggregate", json=body, headers=user.headers)
        assert answer.status_code == 200, answer.text
        result = answer.json()
        return device.decrypt(base64.b64decode(result["encrypted_result"])), result["count"]

    total, count = await aggregate("sum")
    assert count == 3 and abs(total - sum(values)) < 1e-3
    average, _ = await aggregate("average")
    assert abs(average - sum(values) / 3) < 1e-3
    first_day, count = await aggregate(
        "sum", start="2026-10-01T00:00:00Z", end="2026-10-01T23:59:59.999999Z"
    )
    assert count == 2 and abs(first_day - 200.5) < 1e-3
