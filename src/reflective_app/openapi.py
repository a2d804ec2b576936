"""The OpenAPI document, Swagger UI at /docs and ReDoc at /docs/redoc.

Both viewers work offline: their scripts and styles are served by this server (Swagger UI from
the ``swagger-ui-bundle-v2`` wheel, ReDoc's standalone bundle vendored under ``static/redoc``
with its MIT licence), never fetched from a CDN.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec
from litestar import Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import RedocRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import (
    Components,
    OAuthFlow,
    OAuthFlows,
    OpenAPI,
    OpenAPIType,
    Operation,
    Schema,
    SecurityScheme,
)
from litestar.plugins import OpenAPISchemaPlugin
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

import reflective_protocol
from reflective_app.errors import STATUS
from reflective_protocol.errors import Error, ErrorCode

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.typing import FieldDefinition

BEARER_SCHEME = "OAuth2PasswordBearer"
BEARER_AUTH: list[dict[str, list[str]]] = [{BEARER_SCHEME: []}]
"""The ``security`` of every route that needs ``Authorization: Bearer``."""

DESCRIPTION = """\
Zero-knowledge backend of the Reflective journaling app. Entries and metrics arrive encrypted
(AES-GCM entries, CKKS homomorphic metrics) and stay encrypted: the server holds no key.

Every error is `{"detail": ..., "code": ...}`: `detail` is for people (a string; for 422 a
list of `{loc, msg, type}`; for an upload conflict `{message, conflict_id, log_id}`), `code`
is for programs (one of the `ErrorCode` values, each with one status). Binary values are
standard base64. Timestamps are ISO-8601 (answers in UTC with `Z`).
"""


SWAGGER_ASSETS = "/static/swagger-ui"
REDOC_ASSETS = "/static/redoc"
_REDOC_DIR = Path(__file__).parent / "static" / "redoc"
_FAVICON = f"<link rel='icon' type='image/png' href='{SWAGGER_ASSETS}/favicon-32x32.png'>"


def docs_asset_routers() -> list[Router]:
    """The viewers' own files, served from the installed packages."""
    return [
        create_static_files_router(
            SWAGGER_ASSETS, directories=[Path(str(swagger_ui_path))], name="swagger-ui"
        ),
        create_static_files_router(REDOC_ASSETS, directories=[_REDOC_DIR], name="redoc"),
    ]


class _Document(OpenAPI):
    """The document, with the shared error components beside the ones Litestar derives from
    the routes (which it sets after the config's components are copied)."""

    def to_schema(self) -> dict[str, Any]:
        document = super().to_schema()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(error_schemas())
        document_fields(schemas)
        document["components"]["schemas"] = dict(sorted(schemas.items()))
        return document


class _Config(OpenAPIConfig):
    def to_openapi_schema(self) -> OpenAPI:
        base = super().to_openapi_schema()
        return _Document(**{f.name: getattr(base, f.name) for f in fields(base)})


def openapi_config(version: str) -> OpenAPIConfig:
    return _Config(
        title="Reflective Server",
        version=version,
        description=DESCRIPTION,
        path="/docs",
        render_plugins=[
            SwaggerRenderPlugin(
                path="/",
                js_url=f"{SWAGGER_ASSETS}/swagger-ui-bundle.js",
                css_url=f"{SWAGGER_ASSETS}/swagger-ui.css",
                standalone_preset_js_url=f"{SWAGGER_ASSETS}/swagger-ui-standalone-preset.js",
                favicon=_FAVICON,
            ),
            RedocRenderPlugin(
                path="/redoc",
                js_url=f"{REDOC_ASSETS}/redoc.standalone.js",
                google_fonts=False,
                favicon=_FAVICON,
            ),
        ],
        use_handler_docstrings=True,
        components=Components(
            security_schemes={
                BEARER_SCHEME: SecurityScheme(
                    type="oauth2",
                    description="Sign in with email and password at /api/auth/token",
                    flows=OAuthFlows(password=OAuthFlow(token_url="/api/auth/token", scopes={})),
                )
            }
        ),
    )


# --- error responses ---------------------------------------------------------------------

_SCHEMAS = "#/components/schemas/"
_ERROR = {"$ref": f"{_SCHEMAS}Error"}
_PROBLEMS = {"type": "array", "items": {"$ref": f"{_SCHEMAS}ValidationProblem"}}


def _error_schema(status: int, codes: list[ErrorCode]) -> dict[str, Any]:
    """The shared ``Error``, narrowed to the codes this answer can carry (and for 422 to
    the problem list)."""
    narrowed: dict[str, Any] = {"code": {"enum": [c.value for c in codes]}}
    if status == 422:
        narrowed["detail"] = _PROBLEMS
    return {"allOf": [_ERROR, {"properties": narrowed}]}


_WHY: dict[int, str] = {
    400: "The request cannot be carried out as sent",
    401: "No access token, or one that is invalid, expired or revoked "
    "(with `WWW-Authenticate: Bearer`)",
    403: "Not allowed",
    404: "Not found, or someone else's (never told apart)",
    408: "The request body stalled: no data arrived in time",
    409: "Conflicts with what the server holds",
    410: "Gone",
    413: "The body is over the server's size limit, or a count or quota is exceeded",
    422: "Validation failed: `detail` lists each problem as `{loc, msg, type}`",
    429: "Too many requests: retry after `Retry-After` seconds",
    503: "The server is busy or its database unreachable: retry after `Retry-After` seconds",
}

_EXAMPLES: dict[ErrorCode, Any] = {
    ErrorCode.NOT_AUTHENTICATED: "Could not validate credentials",
    ErrorCode.FORBIDDEN_BY_TIER: "This needs the full_sync privacy tier",
    ErrorCode.NOT_FOUND: "Backup not found",
    ErrorCode.EMAIL_TAKEN: "Email already registered",
    ErrorCode.ENTRY_CONFLICT: {
        "message": "Conflict detected: both versions were kept",
        "conflict_id": "9b2f3c1e-2a4d-4d8e-9f61-3c5a7b9e1d20",
        "log_id": "0e7c5d4b-8a1f-4b6e-a3c2-5d9f1e2b7c84",
    },
    ErrorCode.RESYNC_REQUIRED: "Unknown cursor: resync from the beginning",
    ErrorCode.BODY_TOO_LARGE: "Request Entity Too Large",
    ErrorCode.VALIDATION_FAILED: [
        {"loc": ["body", "email"], "msg": "email is not a valid address", "type": "value_error"}
    ],
    ErrorCode.RATE_LIMITED: "Too many requests; try again later",
    ErrorCode.OVERLOADED: "Service temporarily unavailable",
}


def _error_response(status: int, codes: list[ErrorCode]) -> dict[str, Any]:
    """One status's answer: the shared ``Error`` schema, the codes it can carry, examples."""
    schema = _error_schema(status, codes)
    examples = {
        code.value: {"value": {"detail": _EXAMPLES[code], "code": code.value}}
        for code in codes
        if code in _EXAMPLES
    }
    listed = ", ".join(f"`{c.value}`" for c in codes)
    content: dict[str, Any] = {"schema": schema}
    if examples:
        content["examples"] = examples
    return {
        "description": f"{_WHY.get(status, 'Error')}. Codes: {listed}.",
        "content": {"application/json": content},
    }


class ApiOperation(Operation):
    """An operation whose error answers are documented as the server sends them: those its
    route declares (``documented``), 401 on routes that need a token, 413 and 422 on routes
    that take a body or parameters, 503 everywhere admission control and the database reach;
    Litestar's generic 400 (a shape the server never sends) is dropped."""

    errors: ClassVar[tuple[ErrorCode, ...]] = ()
    guarded: ClassVar[bool] = True
    """Behind admission control and using the database (503 when either says no)."""

    def to_schema(self) -> dict[str, Any]:
        document = super().to_schema()
        responses: dict[str, Any] = document.get("responses", {})
        responses.pop("400", None)
        codes: dict[int, list[ErrorCode]] = {}

        def add(*found: ErrorCode) -> None:
            for code in found:
                listed = codes.setdefault(STATUS[code], [])
                if code not in listed:
                    listed.append(code)

        add(*self.errors)
        if self.security:
            add(ErrorCode.NOT_AUTHENTICATED)
        if self.request_body is not None:
            add(ErrorCode.BODY_TOO_LARGE, ErrorCode.REQUEST_TIMEOUT)
        if self.request_body is not None or self.parameters:
            add(ErrorCode.VALIDATION_FAILED)
        if self.guarded:
            add(ErrorCode.OVERLOADED, ErrorCode.DATABASE_UNAVAILABLE)
        for status in sorted(codes):
            responses[str(status)] = _error_response(status, codes[status])
        document["responses"] = dict(sorted(responses.items()))
        return document


def documented(
    summary: str,
    *errors: ErrorCode,
    guarded: bool = True,
    operation: type[Operation] = Operation,
) -> dict[str, Any]:
    """A route decorator's documentation: its summary (for people: "Upload one entry", not
    "UploadBackup") and the error codes it can answer beyond those every route of its kind
    can (401, 408, 413, 422, 503: see ``ApiOperation``); ``guarded=False`` for a route that
    admission control lets through and that needs no database (health); ``operation``, a
    route's own Operation class, if it has one. Use as ``@post(..., **documented(...))``."""
    attributes = {"errors": tuple(errors), "guarded": guarded}
    bases = (ApiOperation,) if operation is Operation else (ApiOperation, operation)
    return {"summary": summary, "operation_class": type("ApiOperation", bases, attributes)}


def error_schemas() -> dict[str, Any]:
    """The shared error components: ``Error`` and what it refers to."""
    _, components = msgspec.json.schema_components([Error], ref_template=_SCHEMAS + "{name}")
    return components


# --- field constraints ---------------------------------------------------------------------

BASE64_PATTERN = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
"""Standard, padded base64: what msgspec decodes into ``bytes`` and nothing else."""


class Base64Schema(OpenAPISchemaPlugin):
    """Every ``bytes`` field of a request or answer travels as standard base64 (msgspec's
    encoding of ``bytes``): documented with its pattern, so that clients and generated tests
    see the constraint the server applies."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return field_definition.annotation is bytes and bool(field_definition.name)

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        return Schema(type=OpenAPIType.STRING, content_encoding="base64", pattern=BASE64_PATTERN)


# --- field descriptions and limits ---------------------------------------------------------

# What a field's own schema says beyond its type: copied from msgspec's schema of the Struct,
# where the protocol declares it (``doc()``), onto the schema Litestar derives for the route.
_FIELD_DOCS = ("description", "examples")
_FIELD_LIMITS = (
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "maxProperties",
    "propertyNames",
)


def _protocol_structs() -> dict[str, type[msgspec.Struct]]:
    modules = [
        importlib.import_module(f"{reflective_protocol.__name__}.{info.name}")
        for info in pkgutil.iter_modules(reflective_protocol.__path__)
    ]
    return {
        name: value
        for module in modules
        for name, value in vars(module).items()
        if isinstance(value, type)
        and issubclass(value, msgspec.Struct)
        and value.__module__ == module.__name__
    }


def _value_branch(schema: dict[str, Any], union: str) -> dict[str, Any]:
    """The part of a field's schema that describes its value: the one arm of ``X | None``
    that is not null, else the schema itself."""
    arms = [s for s in schema.get(union, []) if s != {"type": "null"}]
    return arms[0] if len(arms) == 1 else schema


def _merge_field(served: dict[str, Any], declared: dict[str, Any]) -> None:
    for key in _FIELD_DOCS:
        if key in declared:
            served[key] = declared[key]
    target = _value_branch(served, "oneOf")
    for source in (_value_branch(declared, "anyOf"), declared):
        for key in _FIELD_LIMITS:
            if key in source:
                target[key] = source[key]


def document_fields(schemas: dict[str, Any]) -> None:
    """Give each protocol Struct's properties in ``schemas`` the description, examples and
    limits the protocol declares for them (Litestar's schema generation keeps only part)."""
    structs = _protocol_structs()
    present = [structs[name] for name in schemas if name in structs]
    _, declared = msgspec.json.schema_components(present, ref_template=_SCHEMAS + "{name}")
    for name, schema in schemas.items():
        fields = declared.get(name, {}).get("properties", {})
        for field, served in schema.get("properties", {}).items():
            if field in fields:
                _merge_field(served, fields[field])
