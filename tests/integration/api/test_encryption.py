"""Homomorphic analytics with real SEAL ciphertexts made by node-seal (the web client's
library): context, upload (all or nothing), aggregation decrypted client-side."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

import pytest

from tests.integration.api.conftest import Account, Client, b64, set_tier
from tests.integration.api.he_client import decrypt, metric_payload

Vectors = dict[str, Any]


@pytest.fixture
async def analytics_user(client: Client, user: Account, he_vectors: Vectors) -> Account:
    await set_tier(client, user, "analytics_sync", he_vectors["public_key"])
    return user


async def upload_all(client: Client, account: Account, vectors: Vectors) -> None:
    body = {"metrics": batch(vectors)}
    response = await client.post("/api/encryption/metrics", json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    assert response.json() == {
        "success": True,
        "message": response.json()["message"],
        "details": {
            "count": len(vectors["metrics"]),
            "new": len(vectors["metrics"]),
            "replaced": 0,
        },
    }


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def batch(vectors: Vectors) -> list[dict[str, Any]]:
    """Every vector metric, each naming its own entry."""
    return [metric_payload(m, log_id=f"e{i}") for i, m in enumerate(vectors["metrics"])]


async def test_context_needs_no_auth_and_carries_no_key(
    client: Client, he_lean_vectors: Vectors
) -> None:
    response = await client.get("/api/encryption/context")
    assert response.status_code == 200
    body = response.json()
    assert body["context_params"] == {
        "scheme": "CKKS",
        "poly_modulus_degree": 8192,
        "coeff_mod_bit_sizes": [60, 40, 60],
        "scale": 2.0**40,
    }
    assert body["context_params"] == {**he_lean_vectors["context_params"], "scale": 2.0**40}
    serialized = base64.b64decode(body["serialized_context"], validate=True)
    assert serialized[:2] == b"\x5e\xa1"  # SEAL's magic: SEAL-native serialization
    # Encryption parameters are a few hundred bytes; any key would be hundreds of KB.
    assert len(serialized) < 4096


async def test_upload_and_aggregate_sum_and_average(
    client: Client, analytics_user: Account, he_vectors: Vectors
) -> None:
    await upload_all(client, analytics_user, he_vectors)
    tolerance = he_vectors["tolerance"]
    for metric_type in ("word_count", "sentiment_score"):
        expected = he_vectors["expected"][metric_type]
        for operation in ("sum", "average"):
            response = await client.post(
                "/api/encryption/aggregate",
                json={"metric_type": metric_type, "operation": operation},
                headers=analytics_user.headers,
            )
            assert response.status_code == 200, response.text
            body = response.json()
            assert (body["metric_type"], body["operation"], body["count"]) == (
                metric_type,
                operation,
                expected["count"],
            )
            assert decrypt(he_vectors, body["encrypted_result"]) == pytest.approx(
                expected[operation], abs=tolerance
            )


async def test_aggregate_in_a_time_range(
    client: Client, analytics_user: Account, he_vectors: Vectors
) -> None:
    await upload_all(client, analytics_user, he_vectors)
    response = await client.post(
        "/api/encryption/aggregate",
        json={
            "metric_type": "word_count",
            "operation": "sum",
            # An offset is accepted: this is 2026-11-01T00:00Z .. 2026-11-05T23:59:59.999999Z.
            "time_range": {
                "start": "2026-11-01T02:00:00+02:00",
                "end": "2026-11-05T23:59:59.999999Z",
            },
        },
        headers=analytics_user.headers,
    )
    assert response.status_code == 200, response.text
    expected = he_vectors["expected"]["word_count_2026_11_01_to_2026_11_05_end"]
    assert response.json()["count"] == expected["count"]
    assert decrypt(he_vectors, response.json()["encrypted_result"]) == pytest.approx(
        expected["sum"], abs=he_vectors["tolerance"]
    )


async def test_aggregate_with_nothing_in_range_is_404(
    client: Client, analytics_user: Account, he_vectors: Vectors
) -> None:
    none_yet = await client.post(
        "/api/encryption/aggregate",
        json={"metric_type": "word_count", "operation": "sum"},
        headers=analytics_user.headers,
    )
    assert none_yet.status_code == 404
    await upload_all(client, analytics_user, he_vectors)
    out_of_range = await client.post(
        "/api/encryption/aggregate",
        json={
            "metric_type": "word_count",
            "operation": "average",
            "time_range": {"start": "2025-01-01T00:00:00Z", "end": "2025-01-02T00:00:00Z"},
        },
        headers=analytics_user.headers,
    )
    assert out_of_range.status_code == 404
    assert isinstance(out_of_range.json()["detail"], str)


async def test_aggregate_validation(client: Client, analytics_user: Account) -> None:
    for body, loc in [
        ({"metric_type": "word_count", "operation": "median"}, ["body", "operation"]),
        ({"metric_type": "Word Count", "operation": "sum"}, ["body", "metric_type"]),
        ({"operation": "sum"}, ["body", "metric_type"]),
        (
            {
                "metric_type": "word_count",
                "operation": "sum",
                "time_range": {"start": "2026-11-02T00:00:00Z", "end": "2026-11-01T00:00:00Z"},
            },
            ["body", "time_range"],
        ),
    ]:
        response = await client.post(
            "/api/encryption/aggregate", json=body, headers=analytics_user.headers
        )
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["loc"] == loc, body


async def test_local_only_gets_403(client: Client, user: Account, he_vectors: Vectors) -> None:
    upload = await client.post(
        "/api/encryption/metrics",
        json={"metrics": [metric_payload(he_vectors["metrics"][0])]},
        headers=user.headers,
    )
    assert upload.status_code == 403
    aggregate = await client.post(
        "/api/encryption/aggregate",
        json={"metric_type": "word_count", "operation": "sum"},
        headers=user.headers,
    )
    assert aggregate.status_code == 403


@pytest.mark.parametrize("reject", ["other_parameters", "truncated", "random_bytes"])
async def test_a_bad_ciphertext_rejects_the_whole_batch(
    client: Client, analytics_user: Account, he_vectors: Vectors, reject: str
) -> None:
    good = [metric_payload(m) for m in he_vectors["metrics"][:3]]
    bad = {**good[0], "encrypted_value": he_vectors["rejects"][reject]}
    response = await client.post(
        "/api/encryption/metrics",
        json={"metrics": [good[0], good[1], bad, good[2]]},
        headers=analytics_user.headers,
    )
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "metrics", 2, "encrypted_value"]
    assert problem["msg"] and problem["type"] == "invalid_ciphertext"
    # Nothing of the batch was stored.
    aggregate = await client.post(
        "/api/encryption/aggregate",
        json={"metric_type": "word_count", "operation": "sum"},
        headers=analytics_user.headers,
    )
    assert aggregate.status_code == 404


async def test_malformed_uploads_are_422_naming_the_field(
    client: Client, analytics_user: Account, he_vectors: Vectors
) -> None:
    good = metric_payload(he_vectors["metrics"][0])
    cases = [
        (
            {"metrics": [good, {**good, "encrypted_value": "@@not-base64@@"}]},
            ["body", "metrics", 1, "encrypted_value"],
        ),
        ({"metrics": [{**good, "timestamp": "yesterday"}]}, ["body", "metrics", 0, "timestamp"]),
        (
            {"metrics": [{**good, "timestamp": "2026-11-01T08:15:00"}]},
            ["body", "metrics", 0, "timestamp"],
        ),
        (
            {"metrics": [{k: v for k, v in good.items() if k != "metric_type"}]},
            ["body", "metrics", 0, "metric_type"],
        ),
        ({"metrics": [{**good, "metric_type": "Bad Type"}]}, ["body", "metrics", 0, "metric_type"]),
        ({"metrics": []}, ["body", "metrics"]),
        ({}, ["body", "metrics"]),
    ]
    for body, loc in cases:
        response = await client.post(
            "/api/encryption/metrics", json=body, headers=analytics_user.headers
        )
        assert response.status_code == 422, (loc, response.text[:200])
        assert response.json()["detail"][0]["loc"] == loc, response.json()
    not_json = await client.post(
        "/api/encryption/metrics",
        content=b"{",
        headers={**analytics_user.headers, "Content-Type": "application/json"},
    )
    assert not_json.status_code == 422
    assert not_json.json()["detail"][0]["type"] == "json_invalid"


async def test_upload_needs_a_token(client: Client, he_vectors: Vectors) -> None:
    response = await client.post(
        "/api/encryption/metrics", json={"metrics": [metric_payload(he_vectors["metrics"][0])]}
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_a_changed_key_drops_old_metrics(
    client: Client, analytics_user: Account, he_vectors: Vectors
) -> None:
    """Metrics made under the old key cannot be added to new ones (the domain deletes them);
    moving up a tier with the same key keeps them."""
    await upload_all(client, analytics_user, he_vectors)
    await set_tier(client, analytics_user, "full_sync", he_vectors["public_key"])
    kept = await client.post(
        "/api/encryption/aggregate",
        json={"metric_type": "word_count", "operation": "sum"},
        headers=analytics_user.headers,
    )
    assert kept.status_code == 200 and kept.json()["count"] == 4


async def test_local_only_is_refused_before_the_body_is_read(client: Client, user: Account) -> None:
    # Not even JSON: a 403 (not a 422) shows the tier was checked before reading the body.
    upload = await client.post(
        "/api/encryption/metrics",
        content=b"{not json" + b" " * 100_000,
        headers={**user.headers, "Content-Type": "application/json"},
    )
    assert upload.status_code == 403


async def test_a_resent_batch_is_not_counted_twice(
    client: Client, analytics_user: Account, he_vectors: Vectors
) -> None:
    # The web client retries a batch whose answer it never got: same log_ids, same bytes.
    await upload_all(client, analytics_user, he_vectors)
    body = {"metrics": batch(he_vectors)}
    again = await client.post("/api/encryption/metrics", json=body, headers=analytics_user.headers)
    assert again.status_code == 201
    assert again.json()["details"] == {
        "count": len(he_vectors["metrics"]),
        "new": 0,
        "replaced": 0,
    }
    answer = await client.post(
        "/api/encryption/aggregate",
        json={"metric_type": "word_count", "operation": "sum"},
        headers=analytics_user.headers,
    )
    expected = he_vectors["expected"]["word_count"]
    assert answer.json()["count"] == expected["count"]
    total = decrypt(he_vectors, answer.json()["encrypted_result"])
    assert abs(total - expected["sum"]) < he_vectors["tolerance"]


async def test_lean_and_original_keys_aggregate_side_by_side(
    client: Client,
    user: Account,
    other_user: Account,
    he_vectors: Vectors,
    he_lean_vectors: Vectors,
) -> None:
    """A new key made under the announced lean parameters (by node-seal) and a key made under
    the original ones each keep their own parameters; both users' sums, averages and ranges
    decrypt correctly, and one user's ciphertexts never load under the other's parameters."""
    await set_tier(client, user, "analytics_sync", he_lean_vectors["public_key"])
    await set_tier(client, other_user, "analytics_sync", he_vectors["public_key"])
    await upload_all(client, user, he_lean_vectors)
    await upload_all(client, other_user, he_vectors)
    for account, vectors in ((user, he_lean_vectors), (other_user, he_vectors)):
        for metric_type in ("word_count", "sentiment_score"):
            expected = vectors["expected"][metric_type]
            for operation in ("sum", "average"):
                answer = await client.post(
                    "/api/encryption/aggregate",
                    json={"metric_type": metric_type, "operation": operation},
                    headers=account.headers,
                )
                assert answer.status_code == 200, answer.text
                assert answer.json()["count"] == expected["count"]
                value = decrypt(vectors, answer.json()["encrypted_result"])
                assert abs(value - expected[operation]) < vectors["tolerance"]
    # Ranged sums: whole months (rollups), whole days around them (days of one metric keep
    # no rollup and are read raw) and cut edge days.
    for start, end in (
        ("2026-01-01T00:00:00Z", "2026-06-30T23:59:59.999999Z"),
        ("2026-01-02T00:00:00Z", "2026-03-05T23:59:59.999999Z"),
        ("2026-02-14T21:00:00Z", "2026-07-04T11:00:00Z"),
    ):
        answer = await client.post(
            "/api/encryption/aggregate",
            json={
                "metric_type": "word_count",
                "operation": "sum",
                "time_range": {"start": start, "end": end},
            },
            headers=user.headers,
        )
        in_range = [
            m["value"]
            for m in he_lean_vectors["metrics"]
            if m["metric_type"] == "word_count"
            and moment(start) <= moment(m["timestamp"]) <= moment(end)
        ]
        assert answer.json()["count"] == len(in_range), (start, end)
        total = decrypt(he_lean_vectors, answer.json()["encrypted_result"])
        assert abs(total - sum(in_range)) < 1e-3, (start, end)
    # Crossed: an original-parameter ciphertext is refused for the lean user, and back.
    for account, vectors in ((user, he_vectors), (other_user, he_lean_vectors)):
        crossed = await client.post(
            "/api/encryption/metrics",
            json={"metrics": [metric_payload(vectors["metrics"][0])]},
            headers=account.headers,
        )
        assert crossed.status_code == 422, crossed.text
        assert crossed.json()["detail"][0]["loc"] == ["body", "metrics", 0, "encrypted_value"]


async def test_a_new_measurement_replaces_and_a_retraction_removes(
    client: Client, user: Account, he_lean_vectors: Vectors
) -> None:
    vectors = he_lean_vectors
    await set_tier(client, user, "analytics_sync", vectors["public_key"])
    await upload_all(client, user, vectors)
    words = [m for m in vectors["metrics"] if m["metric_type"] == "word_count"]
    # Entry e0 is measured again: its word count becomes that of e1's ciphertext.
    again = {"metrics": [metric_payload(words[1], log_id="e0")]}
    stored = await client.post("/api/encryption/metrics", json=again, headers=user.headers)
    assert stored.status_code == 201, stored.text
    assert stored.json()["details"] == {"count": 1, "new": 1, "replaced": 1}
    expected = vectors["expected"]["word_count"]["sum"] - words[0]["value"] + words[1]["value"]
    count = vectors["expected"]["word_count"]["count"]
    answer = await client.post(
        "/api/encryption/aggregate",
        json={"metric_type": "word_count", "operation": "sum"},
        headers=user.headers,
    )
    assert answer.json()["count"] == count
    assert abs(decrypt(vectors, answer.json()["encrypted_result"]) - expected) < 1e-3
    # Entry e1 is retracted: its word count leaves every sum.
    gone = await client.delete(
        "/api/encryption/metrics", params={"log_id": "e1"}, headers=user.headers
    )
    assert gone.status_code == 200, gone.text
    assert gone.json()["details"] == {"deleted": 1}
    answer = await client.post(
        "/api/encryption/aggregate",
        json={"metric_type": "word_count", "operation": "average"},
        headers=user.headers,
    )
    assert answer.json()["count"] == count - 1
    average = (expected - words[1]["value"]) / (count - 1)
    assert abs(decrypt(vectors, answer.json()["encrypted_result"]) - average) < 1e-3
    missing = await client.delete("/api/encryption/metrics", headers=user.headers)
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["query", "log_id"]


async def push_entry(client: Client, user: Account) -> str:
    """A new entry from the laptop; its id."""
    entry_id = str(uuid.uuid4())
    pushed = await client.post(
        "/api/sync/backup",
        json={
            "id": entry_id,
            "encrypted_content": b64(b"ciphertext"),
            "content_iv": b64(b"i" * 12),
            "created_at": "2026-01-03T08:00:00Z",
            "updated_at": "2026-01-03T08:00:00Z",
            "device_id": "laptop",
        },
        headers=user.headers,
    )
    assert pushed.status_code == 201, pushed.text
    return entry_id


async def test_deleting_an_entry_retracts_its_metrics(
    client: Client, user: Account, he_lean_vectors: Vectors
) -> None:
    vectors = he_lean_vectors
    await set_tier(client, user, "full_sync", vectors["public_key"])
    entry_id = await push_entry(client, user)
    words = [m for m in vectors["metrics"] if m["metric_type"] == "word_count"]
    body = {
        "metrics": [
            metric_payload(words[0], log_id=entry_id),
            metric_payload(words[1], log_id="another-entry"),
        ]
    }
    assert (
        await client.post("/api/encryption/metrics", json=body, headers=user.headers)
    ).status_code == 201
    deleted = await client.delete(f"/api/sync/backup/{entry_id}", headers=user.headers)
    assert deleted.status_code == 200, deleted.text
    answer = await client.post(
        "/api/encryption/aggregate",
        json={"metric_type": "word_count", "operation": "sum"},
        headers=user.headers,
    )
    assert answer.json()["count"] == 1
    assert abs(decrypt(vectors, answer.json()["encrypted_result"]) - words[1]["value"]) < 1e-3


async def test_removing_every_entry_from_the_server_keeps_their_metrics(
    client: Client, user: Account, he_lean_vectors: Vectors
) -> None:
    # The web client's full_sync -> analytics_sync downgrade calls DELETE /sync/backup/content:
    # the entries leave the server but stay in the journal, so their stats stay too.
    vectors = he_lean_vectors
    await set_tier(client, user, "full_sync", vectors["public_key"])
    entry_id = await push_entry(client, user)
    words = [m for m in vectors["metrics"] if m["metric_type"] == "word_count"]
    body = {"metrics": [metric_payload(words[0], log_id=entry_id)]}
    assert (
        await client.post("/api/encryption/metrics", json=body, headers=user.headers)
    ).status_code == 201
    removed = await client.delete("/api/sync/backup/content", headers=user.headers)
    assert removed.status_code == 200, removed.text
    assert removed.json()["deleted_backups"] == 1
    answer = await client.post(
        "/api/encryption/aggregate",
        json={"metric_type": "word_count", "operation": "sum"},
        headers=user.headers,
    )
    assert answer.json()["count"] == 1
    assert abs(decrypt(vectors, answer.json()["encrypted_result"]) - words[0]["value"]) < 1e-3


@pytest.mark.parametrize(
    "body",
    [
        b'{"metrics": [], "": "\\udc00"}',  # a lone surrogate: JSON's grammar, not Unicode
        b'{"metrics": [{"metric_type": "\\ud800"}]}',
        b"\xff" * 64,
    ],
)
async def test_a_metrics_body_that_is_not_unicode_is_422(
    client: Client, analytics_user: Account, body: bytes
) -> None:
    answer = await client.post(
        "/api/encryption/metrics",
        content=body,
        headers={**analytics_user.headers, "Content-Type": "application/json"},
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"][0] == "body"
