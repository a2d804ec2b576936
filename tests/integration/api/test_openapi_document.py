"""The served OpenAPI document tells the truth about errors: every operation documents its
error answers with the one shared ``Error`` schema, 422 as the ``{loc, msg, type}`` list,
401 where a token is needed, and no Litestar 400 (a shape the server never sends); each
operation has a summary written for people."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import msgspec
import pytest

from reflective_app.admission import _EXEMPT
from reflective_app.errors import STATUS
from reflective_app.openapi import BASE64_PATTERN
from reflective_protocol.errors import ErrorCode
from tests.integration.security.routes import app_openapi_document

DOCUMENT = app_openapi_document()
ERROR = "#/components/schemas/Error"
METHODS = {"get", "put", "post", "delete", "patch"}
OPERATIONS = [
    pytest.param(method.upper(), path, operation, id=f"{method.upper()} {path}")
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
    if method in METHODS
]
# Answers that are not errors though their status is: readiness says "not ready" as itself.
OWN_SHAPES = {("GET", "/api/health/ready", "503")}


def _label(method: str, path: str) -> str:
    return f"{method} {path}"


def _refers_to_error(schema: dict[str, Any]) -> bool:
    return schema.get("$ref") == ERROR or any(
        part.get("$ref") == ERROR for part in schema.get("allOf", [])
    )


def _errors(method: str, path: str, operation: dict[str, Any]) -> dict[str, Any]:
    return {
        status: response
        for status, response in operation["responses"].items()
        if int(status) >= 400 and (method, path, status) not in OWN_SHAPES
    }


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS)
def test_every_operation_documents_its_errors_with_the_shared_schema(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    label = _label(method, path)
    errors = _errors(method, path, operation)
    if not errors:  # only what admission control lets through and needs no database
        assert path.startswith(_EXEMPT), f"{label} documents no error answer"
    assert "400" not in operation["responses"] or "extra" not in str(
        operation["responses"]["400"]
    ), label
    for status, response in errors.items():
        schema = response["content"]["application/json"]["schema"]
        assert _refers_to_error(schema), f"{label} {status}: {schema}"
        codes = schema["allOf"][1]["properties"]["code"]["enum"]
        assert codes, f"{label} {status} names no code"
        for code in codes:
            assert STATUS[ErrorCode(code)] == int(status), f"{label} {status}: {code}"
            assert f"`{code}`" in response["description"], f"{label} {status}: {code}"
    if operation.get("security"):
        assert "401" in errors, label
    if operation.get("requestBody"):
        assert {"413", "422"} <= set(errors), label
    if "422" in errors:
        detail = errors["422"]["content"]["application/json"]["schema"]["allOf"][1]
        items = detail["properties"]["detail"]
        assert items["type"] == "array", label
        assert items["items"] == {"$ref": "#/components/schemas/ValidationProblem"}, label


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS)
def test_every_operation_has_a_summary_and_id_for_people(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    label = _label(method, path)
    summary = operation.get("summary", "")
    # Litestar's default is the handler's name run together: "GetMe", "UploadBatch".
    assert " " in summary or summary in {"Liveness", "Readiness"}, f"{label}: {summary!r}"
    assert re.fullmatch(r"[a-z]+(_[a-z]+)*", operation["operationId"]), label


def test_the_shared_error_schema() -> None:
    schemas = DOCUMENT["components"]["schemas"]
    error = schemas["Error"]
    assert set(error["required"]) == {"detail", "code"}
    kinds = error["properties"]["detail"]["anyOf"]
    assert {"type": "string"} in kinds
    assert {"type": "array", "items": {"$ref": "#/components/schemas/ValidationProblem"}} in kinds
    assert {"$ref": "#/components/schemas/UploadConflict"} in kinds
    assert error["properties"]["code"]["$ref"] == "#/components/schemas/ErrorCode"
    assert set(schemas["ErrorCode"]["enum"]) == {c.value for c in ErrorCode}
    assert set(schemas["ValidationProblem"]["required"]) == {"loc", "msg", "type"}
    assert set(schemas["UploadConflict"]["required"]) == {"message", "conflict_id", "log_id"}


def test_every_code_has_one_status() -> None:
    assert set(STATUS) == set(ErrorCode)


def test_no_litestar_error_shape_anywhere() -> None:
    """``{status_code, detail, extra}`` is what Litestar documents by default; the server
    never answers it."""
    assert '"extra"' not in str(DOCUMENT).replace("'", '"')


@pytest.mark.parametrize(
    "text",
    [
        *(base64.b64encode(bytes(range(n))).decode() for n in range(8)),
        "",
        "QQ",  # unpadded
        "QQ=",
        "QQ==QQ==",
        "QUJD\n",
        "QU JD",
        "QUJ-",  # URL-safe alphabet
        "QUJ_",
        "Q===",
    ],
)
def test_the_documented_base64_pattern_is_what_the_server_decodes(text: str) -> None:
    try:
        msgspec.json.decode(json.dumps(text), type=bytes)
        decodes = True
    except msgspec.ValidationError:
        decodes = False
    assert (re.fullmatch(BASE64_PATTERN, text) is not None) == decodes


def test_bytes_fields_are_documented_as_base64() -> None:
    upload = DOCUMENT["components"]["schemas"]["BackupUpload"]["properties"]
    assert upload["encrypted_content"]["pattern"] == BASE64_PATTERN
    assert upload["encrypted_content"]["contentEncoding"] == "base64"
