"""The API fixtures (the real app over PostgreSQL) for the hot-path tests."""

from tests.integration.api.conftest import (  # noqa: F401
    api_container,
    api_settings,
    app_with,
    client,
    he_vectors,
    session_client,
)
