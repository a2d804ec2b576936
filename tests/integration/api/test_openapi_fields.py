"""The served OpenAPI document describes every field and parameter, and the limits it declares
are the ones the server enforces: for each (operation, field, limit) below the test reads the
limit from the document, sends the value at the limit (not refused) and one step beyond it
(422) through the real app."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.integration.api.conftest import Account, Client, set_tier
from tests.integration.api.sync_client import entry_upload
from tests.integration.security.routes import app_openapi_document

DOCUMENT = app_openapi_document()
SCHEMAS: dict[str, Any] = DOCUMENT["components"]["schemas"]
REF = "#/components/schemas/"
METHODS = {"get", "put", "post", "delete", "patch"}


# --- every field and parameter is described ------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_property_of_every_component_has_a_description(name: str) -> None:
    undescribed = [
        field
        for field, schema in SCHEMAS[name].get("properties", {}).items()
        if not schema.get("description")
    ]
    assert undescribed == [], name


def test_every_parameter_has_a_description() -> None:
    undescribed = [
        f"{method.upper()} {path} {parameter['name']}"
        for path, item in DOCUMENT["paths"].items()
        for method, operation in item.items()
        if method in METHODS
        for parameter in operation.get("parameters", [])
        if not parameter.get("description")
    ]
    assert undescribed == []


# --- the declared limits are the enforced ones ---------------------------------------------


def _value_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema of a field's value: the one arm of ``X | None`` that is not null."""
    arms = [s for s in schema.get("oneOf", []) if s != {"type": "null"}]
    return arms[0] if len(arms) == 1 else schema


def declared(operation: str, field: str, keyword: str) -> Any:
    """``keyword`` (maxLength, minimum, pattern, ...) as the document declares it for the body
    field or parameter ``field`` of ``operation``."""
    method, path = operation.split(" ", 1)
    spec = DOCUMENT["paths"][path][method.lower()]
    for parameter in spec.get("parameters", []):
        if parameter["name"] == field:
            schema = parameter["schema"]
            break
    else:
        body = spec["requestBody"]["content"]["application/json"]["schema"]
        schema = SCHEMAS[body["$ref"].removeprefix(REF)]["properties"][field]
    for where in (schema, _value_schema(schema)):
        if keyword in where:
            return where[keyword]
    raise AssertionError(f"{operation} {field}: no {keyword} declared")


def text(length: int) -> str:
    """A distinct string of ``length`` characters."""
    return (uuid.uuid4().hex * (length // 32 + 1))[:length]


def password(length: int) -> str:
    return ("Zq7!" * length)[:length]


def email(length: int) -> str:
    return text(length - len("@example.com")) + "@example.com"


Send = Callable[[Client, Account, str, Any], Any]


async def _register(client: Client, _: Account, field: str, value: Any) -> Any:
    body = {"email": email(40), "password": "plausible passphrase", field: value}
    return await client.post("/api/auth/register", json=body)


async def _preferences(client: Client, user: Account, field: str, value: Any) -> Any:
    return await client.put("/api/users/me/preferences", json={field: value}, headers=user.headers)


async def _create_tag(client: Client, user: Account, field: str, value: Any) -> Any:
    return await client.post(
        "/api/tags", json={"name": text(8), field: value}, headers=user.headers
    )


async def _upload(client: Client, user: Account, field: str, value: Any) -> Any:
    return await client.post(
        "/api/sync/backup", json=entry_upload(**{field: value}), headers=user.headers
    )


def _query(path: str) -> Send:
    async def send(client: Client, user: Account, field: str, value: Any) -> Any:
        return await client.get(path, params={field: value}, headers=user.headers)

    return send


async def _cleanup(client: Client, user: Account, field: str, value: Any) -> Any:
    return await client.delete("/api/tags/cleanup", params={field: value}, headers=user.headers)


async def _forget_device(client: Client, user: Account, field: str, value: Any) -> Any:
    return await client.delete(f"/api/sync/devices/{value}", headers=user.headers)


SENDERS: dict[str, Send] = {
    "POST /api/auth/register": _register,
    "PUT /api/users/me/preferences": _preferences,
    "POST /api/tags": _create_tag,
    "POST /api/sync/backup": _upload,
    "GET /api/sync/backups": _query("/api/sync/backups"),
    "GET /api/sync/changes": _query("/api/sync/changes"),
    "GET /api/sync/conflicts": _query("/api/sync/conflicts"),
    "GET /api/tags": _query("/api/tags"),
    "DELETE /api/tags/cleanup": _cleanup,
    "DELETE /api/sync/devices/{device_id}": _forget_device,
}


@dataclass(frozen=True)
class Limit:
    operation: str
    field: str
    keyword: str  # minLength, maxLength, minimum, maximum or maxProperties
    make: Callable[[int], Any] = int  # the value of that size

    @property
    def beyond(self) -> int:
        return 1 if self.keyword.startswith("max") else -1


LIMITS = [
    Limit("POST /api/auth/register", "email", "maxLength", email),
    Limit("POST /api/auth/register", "password", "minLength", password),
    Limit("POST /api/auth/register", "password", "maxLength", password),
    Limit("POST /api/auth/register", "display_name", "maxLength", lambda n: "d" * n),
    Limit("PUT /api/users/me/preferences", "daily_word_goal", "minimum"),
    Limit("PUT /api/users/me/preferences", "daily_word_goal", "maximum"),
    Limit(
        "PUT /api/users/me/preferences",
        "theme_preferences",
        "maxProperties",
        lambda n: {f"k{i}": "v" for i in range(n)},
    ),
    Limit("POST /api/tags", "name", "minLength", text),
    Limit("POST /api/tags", "name", "maxLength", text),
    Limit("POST /api/sync/backup", "device_id", "minLength", lambda n: "p" * n),
    Limit("POST /api/sync/backup", "device_id", "maxLength", lambda n: "p" * n),
    Limit("POST /api/sync/backup", "base_revision", "minimum"),
    *(
        Limit(operation, "limit", keyword)
        for operation in ("GET /api/sync/backups", "GET /api/sync/changes", "GET /api/tags")
        for keyword in ("minimum", "maximum")
    ),
    Limit("GET /api/sync/conflicts", "limit", "maximum"),
    *(
        Limit(operation, "offset", "minimum")
        for operation in ("GET /api/sync/backups", "GET /api/sync/conflicts", "GET /api/tags")
    ),
    Limit("GET /api/sync/backups", "device_id", "maxLength", lambda n: "p" * n),
    Limit("DELETE /api/tags/cleanup", "days", "minimum"),
    Limit("DELETE /api/tags/cleanup", "days", "maximum"),
    Limit("DELETE /api/sync/devices/{device_id}", "device_id", "maxLength", lambda n: "p" * n),
]


@pytest.fixture
async def synced_user(client: Client, user: Account, he_vectors: dict[str, Any]) -> Account:
    await set_tier(client, user, "full_sync", he_vectors["public_key"])
    return user


def _problems(response: Any) -> str:
    return f"{response.status_code} {response.text[:300]}"


@pytest.mark.parametrize(
    "limit", LIMITS, ids=[f"{x.operation} {x.field} {x.keyword}" for x in LIMITS]
)
async def test_the_declared_limit_is_the_enforced_one(
    client: Client, synced_user: Account, limit: Limit
) -> None:
    value = declared(limit.operation, limit.field, limit.keyword)
    assert isinstance(value, int), limit
    send = SENDERS[limit.operation]

    at = await send(client, synced_user, limit.field, limit.make(value))
    assert at.status_code < 500 and at.status_code != 422, f"{limit} at {value}: {_problems(at)}"

    over = await send(client, synced_user, limit.field, limit.make(value + limit.beyond))
    assert over.status_code == 422, f"{limit} beyond {value}: {_problems(over)}"
    assert over.json()["detail"][0]["loc"][-1] == limit.field, over.text


# Patterns: the document's pattern matches exactly the values the server takes.
def _b64(size: int) -> str:
    return base64.b64encode(bytes(range(size))).decode()


PATTERNS = [
    *(("POST /api/sync/backup", "content_iv", _b64(n)) for n in (11, 12, 13, 15, 16, 17)),
    *(("POST /api/sync/backup", "content_tag", _b64(n)) for n in (12, 15, 16, 17)),
    *(("POST /api/tags", "color", c) for c in ("#A1b2C3", "#A1B2C", "#A1B2C3D", "A1B2C3")),
    *(
        ("PUT /api/users/me/preferences", "writing_reminder_time", t)
        for t in ("07:05", "23:59", "24:00", "7:05", "07:60")
    ),
    *(("PUT /api/users/me/preferences", "locale", t) for t in ("en", "en-US", "e", "en_US")),
]


@pytest.mark.parametrize(("operation", "field", "value"), PATTERNS)
async def test_the_declared_pattern_is_the_enforced_one(
    client: Client, synced_user: Account, operation: str, field: str, value: str
) -> None:
    pattern = declared(operation, field, "pattern")
    response = await SENDERS[operation](client, synced_user, field, value)
    assert response.status_code < 500, _problems(response)
    accepted = response.status_code != 422
    assert accepted == (re.search(pattern, value) is not None), _problems(response)
