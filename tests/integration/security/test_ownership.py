"""Ownership, generated from the route table: one user can never reach another's records.

Every documented operation whose path takes an id is tried by a second user on the first
user's object: 404, exactly as for an id that does not exist, and the owner's data is
untouched. The set of such routes is read from the app, so a new route is covered as soon
as it exists; if it takes an id this module cannot create an object for, its test fails and
says which factory to add to ``OBJECT_FACTORIES`` (or body to ``REQUEST_BODIES``).

Listings and aggregates: every GET route (and the aggregate) answers a user with nothing of
another user's, and every bulk deletion a user runs leaves the other user's data alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.api.conftest import Account, Client, set_tier
from tests.integration.security.helpers import (
    CloudData,
    Vectors,
    export,
    make_conflict,
    make_tag,
    populate,
    push_entry,
    stored_state,
)
from tests.integration.security.routes import STREAMING, Operation, app_operations

# --- how to make "an object of user A" for each kind of id a path can take ----------------

ObjectFactory = Callable[[Client, Account], Awaitable[str]]


async def _backup(client: Client, owner: Account) -> str:
    return str((await push_entry(client, owner))["id"])


async def _entry_with_history(client: Client, owner: Account) -> str:
    """An entry edited once: one kept version (what the revisions routes read or delete)."""
    entry_id = str((await push_entry(client, owner, device="laptop"))["id"])
    await push_entry(client, owner, entry_id=entry_id, device="laptop")
    return entry_id


async def _conflict(client: Client, owner: Account) -> str:
    return await make_conflict(client, owner)


async def _tag(client: Client, owner: Account) -> str:
    return str((await make_tag(client, owner))["id"])


async def _device(client: Client, owner: Account) -> str:
    device_id = f"device-{uuid.uuid4().hex[:8]}"
    await push_entry(client, owner, device=device_id)
    return device_id


async def _session(client: Client, owner: Account) -> str:
    """Another sign-in of the owner: its session id."""
    signed_in = await client.post(
        "/api/auth/token", data={"username": owner.email, "password": owner.password}
    )
    assert signed_in.status_code == 200, signed_in.text
    token = signed_in.json()["access_token"]
    listed = await client.get("/api/auth/sessions", headers={"Authorization": f"Bearer {token}"})
    return str(next(s["id"] for s in listed.json()["sessions"] if s["current"]))


OBJECT_FACTORIES: dict[str, ObjectFactory] = {
    "backup_id": _backup,
    "entry_id": _entry_with_history,
    "conflict_id": _conflict,
    "tag_id": _tag,
    "device_id": _device,
    "session_id": _session,
}
"""Path parameter name -> creates an object of that kind for the given user, answers its id."""

REQUEST_BODIES: dict[str, Callable[[], dict[str, Any]]] = {
    "PATCH /api/tags/{tag_id}": lambda: {"name": f"renamed-{uuid.uuid4().hex[:8]}"},
    "POST /api/sync/conflicts/{conflict_id}/resolve": lambda: {"chosen_version": "remote"},
}
"""A valid body for each id-taking operation that reads one (so that what answers is the
ownership check, not body validation)."""

ID_OPERATIONS = [op for op in app_operations() if op.path_parameters]
GET_OPERATIONS = [
    op
    for op in app_operations()
    if op.method == "GET" and not op.path_parameters and op.label not in STREAMING
]
BULK_DELETIONS = [op for op in app_operations() if op.method == "DELETE" and not op.path_parameters]


def _labels(operations: list[Operation]) -> list[str]:
    return [op.label for op in operations]


def test_route_table_is_read() -> None:
    """Guard against an enumeration that silently finds nothing (the tests below would then
    pass vacuously)."""
    labels = set(_labels(ID_OPERATIONS))
    assert {
        "DELETE /api/sync/backup/{backup_id}",
        "POST /api/sync/conflicts/{conflict_id}/resolve",
        "PATCH /api/tags/{tag_id}",
        "DELETE /api/tags/{tag_id}",
    } <= labels
    assert {"GET /api/sync/backups", "GET /api/users/me/export"} <= set(_labels(GET_OPERATIONS))
    assert "DELETE /api/sync/backup/content" in _labels(BULK_DELETIONS)


def test_an_id_route_without_a_factory_fails_with_instructions() -> None:
    """What a developer adding ``/api/widgets/{widget_id}`` sees."""
    widget = Operation("GET", "/api/widgets/{widget_id}", ("widget_id",), False, True)
    with pytest.raises(pytest.fail.Exception, match="add a factory for \\['widget_id'\\]"):
        _request_for(widget, str(uuid.uuid4()))


def _request_for(operation: Operation, object_id: str) -> dict[str, Any]:
    """method, url and body for ``operation`` on ``object_id``; fails, saying what to add,
    when this module does not know how."""
    missing = [name for name in operation.path_parameters if name not in OBJECT_FACTORIES]
    if missing:
        pytest.fail(
            f"{operation.label} takes {missing}, and the ownership suite cannot create such an "
            f"object: add a factory for {missing} to OBJECT_FACTORIES in {__name__}"
        )
    if len(operation.path_parameters) != 1:
        pytest.fail(
            f"{operation.label} takes several ids {operation.path_parameters}: extend "
            f"{__name__} to create related objects for it"
        )
    request: dict[str, Any] = {
        "method": operation.method,
        "url": operation.url(**{operation.path_parameters[0]: object_id}),
    }
    if operation.takes_body:
        if operation.label not in REQUEST_BODIES:
            pytest.fail(
                f"{operation.label} reads a body: add a valid one to REQUEST_BODIES in {__name__}"
            )
        request["json"] = REQUEST_BODIES[operation.label]()
    return request


async def _send(client: Client, account: Account, request: dict[str, Any]) -> httpx.Response:
    return await client.request(**request, headers=account.headers)


@pytest.fixture
async def owner(client: Client, user: Account, he_vectors: Vectors) -> Account:
    await set_tier(client, user, "full_sync", he_vectors["public_key"])
    return user


@pytest.fixture
async def intruder(client: Client, other_user: Account, he_vectors: Vectors) -> Account:
    # The same tier as the owner: no tier check may stand in for the ownership check.
    await set_tier(client, other_user, "full_sync", he_vectors["public_key"])
    return other_user


@pytest.mark.parametrize("operation", ID_OPERATIONS, ids=_labels(ID_OPERATIONS))
async def test_another_users_object_is_404(
    client: Client, owner: Account, intruder: Account, operation: Operation
) -> None:
    _request_for(operation, str(uuid.uuid4()))  # fails here, explicitly, for an unknown route
    factory = OBJECT_FACTORIES[operation.path_parameters[0]]
    object_id = await factory(client, owner)
    # The intruder has an object of the same kind: the request must not land on it instead.
    await factory(client, intruder)
    owner_before = await stored_state(client, owner)
    intruder_before = await stored_state(client, intruder)

    attempt = await _send(client, intruder, _request_for(operation, object_id))
    assert attempt.status_code == 404, (operation.label, attempt.status_code, attempt.text)
    assert isinstance(attempt.json()["detail"], str)
    # No oracle: another user's id answers exactly like an id that does not exist.
    unknown = await _send(client, intruder, _request_for(operation, str(uuid.uuid4())))
    assert (unknown.status_code, unknown.json()) == (attempt.status_code, attempt.json())

    assert await stored_state(client, owner) == owner_before, f"{operation.label}: owner data"
    assert await stored_state(client, intruder) == intruder_before, f"{operation.label}: own data"
    # Control: the owner's own request on the same id does reach it.
    own = await _send(client, owner, _request_for(operation, object_id))
    assert own.is_success, (operation.label, own.status_code, own.text)


async def test_same_entry_id_is_a_separate_entry_per_user(
    client: Client, owner: Account, intruder: Account
) -> None:
    """Entry ids are chosen by clients: another user uploading (and deleting) an entry with
    the same id works on their own entry only."""
    mine = await push_entry(client, owner)
    before = await stored_state(client, owner)
    theirs = await push_entry(client, intruder, entry_id=mine["id"])
    assert theirs["encrypted_content"] != mine["encrypted_content"]
    response = await client.delete(f"/api/sync/backup/{mine['id']}", headers=intruder.headers)
    assert response.status_code == 200  # their own entry of that id
    assert await stored_state(client, owner) == before


async def test_logout_with_another_users_refresh_token_ends_nothing(
    client: Client, owner: Account, intruder: Account
) -> None:
    stolen = owner.tokens["refresh_token"]
    response = await client.post(
        "/api/auth/logout", json={"refresh_token": stolen}, headers=intruder.headers
    )
    assert response.status_code == 204
    refreshed = await client.post("/api/auth/refresh", json={"refresh_token": stolen})
    assert refreshed.status_code == 200, "another user's logout ended the owner's session"


# --- listings, aggregates, bulk deletions ---------------------------------------------------


@pytest.fixture
async def two_users(
    client: Client, user: Account, other_user: Account, he_vectors: Vectors
) -> tuple[CloudData, CloudData]:
    """Both with entries, a conflict, a tag and word_count metrics; only the first has
    sentiment_score metrics."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for metric in he_vectors["metrics"]:
        by_type.setdefault(metric["metric_type"], []).append(metric)
    words, sentiments = by_type["word_count"], by_type["sentiment_score"]
    first = await populate(client, user, he_vectors, [words[0], words[1], sentiments[0]])
    second = await populate(client, other_user, he_vectors, [words[2]])
    return first, second


def _leaks(answer: str, markers: dict[str, str]) -> list[str]:
    return [what for what, marker in markers.items() if marker in answer]


async def _answers_to_every_get(client: Client, account: Account) -> dict[str, str]:
    answers = {}
    for operation in GET_OPERATIONS:
        response = await client.get(operation.path, headers=account.headers)
        assert response.status_code < 500, (operation.label, response.text)
        answers[operation.label] = response.text
    return answers


async def test_no_get_route_shows_another_users_records(
    client: Client, two_users: tuple[CloudData, CloudData]
) -> None:
    first, second = two_users
    for data, other in ((first, second), (second, first)):
        answers = await _answers_to_every_get(client, data.account)
        for label, answer in answers.items():
            assert not _leaks(answer, other.markers()), (label, _leaks(answer, other.markers()))
        # Not vacuous: each marker does show up in its owner's own answers.
        everything = "\n".join(answers.values())
        assert not [what for what, m in data.markers().items() if m not in everything]


async def test_listings_count_only_own_records(
    client: Client, two_users: tuple[CloudData, CloudData]
) -> None:
    first, second = two_users
    for data in (first, second):
        headers = data.account.headers
        # Live entries: the uploaded ones (one was edited) plus the entry behind the conflict.
        live = len({e["id"] for e in data.entries}) + len(data.conflict_ids)
        backups = (await client.get("/api/sync/backups", headers=headers)).json()
        assert backups["total_count"] == live == len(backups["backups"])
        changes = (await client.get("/api/sync/changes", headers=headers)).json()
        assert len(changes["changes"]) == live
        conflicts = (await client.get("/api/sync/conflicts", headers=headers)).json()
        assert {c["id"] for c in conflicts["conflicts"]} == set(data.conflict_ids)
        tags = (await client.get("/api/tags", headers=headers)).json()
        assert {t["id"] for t in tags} == {t["id"] for t in data.tags}
        document = await export(client, data.account)
        assert {e["id"] for e in document["entries"]} >= {e["id"] for e in data.entries}
        assert len(document["entries"]) == live
        # The kept versions exported are the edited entry's one, nobody else's.
        assert [r["log_id"] for r in document["revisions"]] == [data.entries[0]["id"]]
        assert document["account"]["id"] == data.account.id


async def test_change_cursor_does_not_count_other_users_writes(
    client: Client, two_users: tuple[CloudData, CloudData]
) -> None:
    """The feed's cursor is per user: another user's writes do not move it (else it would
    tell how busy the others are)."""
    first, second = two_users

    async def cursor(data: CloudData) -> str:
        response = await client.get("/api/sync/changes", headers=data.account.headers)
        return str(response.json()["next_cursor"])

    before = await cursor(second)
    await push_entry(client, first.account)
    await client.delete(f"/api/sync/backup/{first.entries[0]['id']}", headers=first.account.headers)
    assert await cursor(second) == before


async def test_aggregates_only_own_metrics(
    client: Client, two_users: tuple[CloudData, CloudData]
) -> None:
    first, second = two_users

    async def aggregate(data: CloudData, metric_type: str) -> httpx.Response:
        return await client.post(
            "/api/encryption/aggregate",
            json={"metric_type": metric_type, "operation": "sum"},
            headers=data.account.headers,
        )

    assert (await aggregate(first, "word_count")).json()["count"] == 2
    assert (await aggregate(second, "word_count")).json()["count"] == 1
    assert (await aggregate(first, "sentiment_score")).json()["count"] == 1
    # Only the first user has sentiment metrics: none for the second.
    assert (await aggregate(second, "sentiment_score")).status_code == 404
    assert len((await export(client, second.account))["metrics"]) == 1


# Bodies for bulk deletions that read one; called with the user running the deletion.
BULK_DELETION_BODIES: dict[str, Callable[[Account], dict[str, Any]]] = {
    "DELETE /api/users/me": lambda account: {"password": account.password},
}
# Query parameters for deletions that need one: here a log_id both users' metrics name.
BULK_DELETION_PARAMS: dict[str, dict[str, str]] = {
    "DELETE /api/encryption/metrics": {"log_id": "entry-0"},
}


async def _age_every_tag(engine: AsyncEngine) -> None:
    """Make every tag look unused for a year, so that a tag cleanup would delete it."""
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE tags SET created_at = now() - interval '365 days', "
                "last_used_at = now() - interval '365 days'"
            )
        )


@pytest.mark.parametrize("operation", BULK_DELETIONS, ids=_labels(BULK_DELETIONS))
async def test_bulk_deletions_leave_other_users_alone(
    client: Client,
    two_users: tuple[CloudData, CloudData],
    pg_engine: AsyncEngine,
    operation: Operation,
) -> None:
    first, second = two_users
    await _age_every_tag(pg_engine)
    before = await stored_state(client, first.account)
    request: dict[str, Any] = {"method": "DELETE", "url": operation.path}
    if operation.label in BULK_DELETION_PARAMS:
        request["params"] = BULK_DELETION_PARAMS[operation.label]
    if operation.takes_body:
        if operation.label not in BULK_DELETION_BODIES:
            pytest.fail(
                f"{operation.label} reads a body: add one to BULK_DELETION_BODIES in {__name__}"
            )
        request["json"] = BULK_DELETION_BODIES[operation.label](second.account)
    response = await _send(client, second.account, request)
    assert response.is_success, (operation.label, response.status_code, response.text)
    assert await stored_state(client, first.account) == before, operation.label


# --- authentication, from the same table ----------------------------------------------------

PUBLIC_OPERATIONS = {
    "GET /",
    "GET /api/health",
    "GET /api/health/ready",
    "GET /api/metrics",
    "GET /api/encryption/context",
    "POST /api/auth/register",
    "POST /api/auth/token",
    "POST /api/auth/refresh",
}
"""Operations that need no token. Any other must refuse a request without one."""

PRIVATE_OPERATIONS = [op for op in app_operations() if op.label not in PUBLIC_OPERATIONS]


def test_only_known_operations_are_public() -> None:
    documented_public = {op.label for op in app_operations() if not op.needs_token}
    assert documented_public == PUBLIC_OPERATIONS, (
        "an operation without documented security is not in PUBLIC_OPERATIONS (or one there "
        "now documents a token): fix the route's security or the list"
    )


@pytest.mark.parametrize("operation", PRIVATE_OPERATIONS, ids=_labels(PRIVATE_OPERATIONS))
async def test_private_operations_refuse_missing_and_foreign_tokens(
    client: Client, owner: Account, operation: Operation
) -> None:
    url = operation.url(**{name: str(uuid.uuid4()) for name in operation.path_parameters})
    claims = jwt.decode(owner.tokens["access_token"], options={"verify_signature": False})
    forged = jwt.encode(claims, "not-the-server-secret-" + "y" * 48, algorithm="HS256")
    unsigned = jwt.encode(claims, None, algorithm="none")
    attempts: list[dict[str, str]] = [
        {},
        {"Authorization": f"Bearer {forged}"},
        {"Authorization": f"Bearer {unsigned}"},
        {"Authorization": "Basic eDp5"},
    ]
    for headers in attempts:
        response = await client.request(operation.method, url, headers=headers)
        assert response.status_code == 401, (operation.label, headers, response.text)
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert isinstance(response.json()["detail"], str)
