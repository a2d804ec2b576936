"""The OpenAPI document, Swagger UI at /docs and ReDoc at /docs/redoc.

Both viewers work offline: their scripts and styles are served by this server (Swagger UI from
the ``swagger-ui-bundle-v2`` wheel, ReDoc's standalone bundle vendored under ``static/redoc``
with its MIT licence), never fetched from a CDN.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import RedocRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, OAuthFlow, OAuthFlows, SecurityScheme
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

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


def openapi_config(version: str) -> OpenAPIConfig:
    return OpenAPIConfig(
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
