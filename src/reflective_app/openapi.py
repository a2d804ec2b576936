"""The OpenAPI document and Swagger UI at /docs."""

from __future__ import annotations

from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, OAuthFlow, OAuthFlows, SecurityScheme

BEARER_SCHEME = "OAuth2PasswordBearer"
BEARER_AUTH: list[dict[str, list[str]]] = [{BEARER_SCHEME: []}]
"""The ``security`` of every route that needs ``Authorization: Bearer``."""

DESCRIPTION = """\
Zero-knowledge backend of the Reflective journaling app. Entries and metrics arrive encrypted
(AES-GCM entries, CKKS homomorphic metrics) and stay encrypted: the server holds no key.

Errors are `{"detail": ...}`; validation errors are 422 with `detail` a list of
`{loc, msg, type}`. Binary values are standard base64. Timestamps are ISO-8601 (answers in
UTC with `Z`).
"""


def openapi_config(version: str) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Reflective Server",
        version=version,
        description=DESCRIPTION,
        path="/docs",
        render_plugins=[SwaggerRenderPlugin(path="/")],
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
