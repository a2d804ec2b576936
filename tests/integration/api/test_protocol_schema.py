"""The protocol's Structs against the OpenAPI document the app serves: every schema an
operation reads or writes is a Struct (or enum) of :mod:`reflective_protocol`, with the same
required fields and the same field types as msgspec derives from the Struct itself. So the
SDK, which sends and reads those Structs, speaks what the document promises."""

from __future__ import annotations

import enum
import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

import reflective_protocol
from reflective_protocol.encryption import MetricsUpload
from tests.integration.api.conftest import Client

REF = "#/components/schemas/"
# Read by the route itself as a stream, so declared by hand in the route (see the test below).
HAND_WRITTEN = {"POST /api/encryption/metrics": MetricsUpload}


def protocol_types() -> dict[str, type]:
    found: dict[str, type] = {}
    for info in pkgutil.iter_modules(reflective_protocol.__path__):
        module = importlib.import_module(f"{reflective_protocol.__name__}.{info.name}")
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and value.__module__ == module.__name__
                and issubclass(value, msgspec.Struct | enum.Enum)
            ):
                found[name] = value
    return found


PROTOCOL = protocol_types()


@pytest.fixture
async def document(client: Client) -> dict[str, Any]:
    response = await client.get("/docs/openapi.json")
    assert response.status_code == 200
    served: dict[str, Any] = response.json()
    return served


def references(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF):
            yield ref.removeprefix(REF)
        for value in schema.values():
            yield from references(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from references(value)


def kinds(schema: dict[str, Any]) -> frozenset[str]:
    """A field's type as a set of kinds, whatever the generator's spelling: ``oneOf`` or
    ``anyOf``, ``type`` as a list or not, a reference alone or in a one-item ``allOf``;
    descriptions, defaults, limits and base64 markers aside."""
    for union in ("oneOf", "anyOf"):
        if union in schema:
            return frozenset().union(*(kinds(s) for s in schema[union]))
    if len(schema.get("allOf", [])) == 1:  # a described reference: {allOf: [$ref], description}
        return kinds(schema["allOf"][0])
    if "$ref" in schema:
        return frozenset({f"ref {schema['$ref'].removeprefix(REF)}"})
    if "enum" in schema:
        return frozenset({f"enum {sorted(map(str, schema['enum']))}"})
    types = schema.get("type", "any")
    found = set()
    for kind in types if isinstance(types, list) else [types]:
        if kind == "array":
            found.add(f"array of {sorted(kinds(schema.get('items', {})))}")
        elif kind == "object" and schema.get("additionalProperties"):  # {}: any value
            found.add(f"object of {sorted(kinds(schema['additionalProperties']))}")
        elif kind == "string" and schema.get("format") in ("date-time", "uuid"):
            found.add(f"string {schema['format']}")
        else:
            found.add(kind)
    return frozenset(found)


def shape(schema: dict[str, Any]) -> tuple[set[str], dict[str, frozenset[str]]]:
    return set(schema.get("required", [])), {
        name: kinds(field) for name, field in schema.get("properties", {}).items()
    }


def msgspec_components(*types: type) -> dict[str, Any]:
    _, components = msgspec.json.schema_components(types, ref_template=REF + "{name}")
    return components


def operation_schemas(document: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(operation, where, schema) for each request body and each answer."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            name = f"{method.upper()} {path}"
            body = operation.get("requestBody", {}).get("content", {})
            for media in body.values():
                yield name, "request", media.get("schema", {})
            for status, answer in operation.get("responses", {}).items():
                for media in answer.get("content", {}).values():
                    yield name, status, media.get("schema", {})


async def test_every_schema_an_operation_uses_is_a_protocol_type(
    document: dict[str, Any],
) -> None:
    used: dict[str, str] = {}
    for operation, where, schema in operation_schemas(document):
        if where == "request" or where.startswith("2"):
            for name in references(schema):
                used.setdefault(name, f"{operation} ({where})")
    # Follow references inside components too (a list's items, a nested Struct).
    components = document["components"]["schemas"]
    pending = list(used)
    while pending:
        for name in references(components[pending.pop()]):
            if name not in used:
                used[name] = f"inside {name}"
                pending.append(name)
    assert used, "the document references no schema at all"
    outside = {name: where for name, where in used.items() if name not in PROTOCOL}
    assert outside == {}, "schemas not declared in reflective_protocol"


async def test_each_protocol_struct_matches_its_served_schema(document: dict[str, Any]) -> None:
    served = document["components"]["schemas"]
    compared = [t for name, t in PROTOCOL.items() if name in served]
    assert len(compared) >= 40, "the document names its schemas after the protocol's Structs"
    derived = msgspec_components(*compared)
    for kind in compared:
        name = kind.__name__
        assert shape(served[name]) == shape(derived[name]), name
        if issubclass(kind, enum.Enum):
            assert kinds(served[name]) == kinds(derived[name]), name


async def test_the_hand_written_metrics_upload_schema_matches_its_struct(
    document: dict[str, Any],
) -> None:
    for operation, struct in HAND_WRITTEN.items():
        method, path = operation.split(" ", 1)
        body = document["paths"][path][method.lower()]["requestBody"]["content"]
        served = body["application/json"]["schema"]
        derived = msgspec_components(struct)
        required, fields = shape(served)
        assert (required, set(fields)) == (
            set(derived[struct.__name__]["required"]),
            set(derived[struct.__name__]["properties"]),
        )
        item = served["properties"]["metrics"]["items"]
        want_required, want_fields = shape(derived["MetricItem"])
        got_required, got_fields = shape(item)
        assert got_required == want_required
        # The hand-written schema leaves out that an optional field may be null.
        optional = {
            name: kinds - {"null"} if name not in want_required else kinds
            for name, kinds in want_fields.items()
        }
        assert got_fields == optional
