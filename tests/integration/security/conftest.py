"""Security suites: the API fixtures of tests/integration/api (the real app over PostgreSQL,
every table emptied per test), re-exported for this directory. Helpers are in helpers.py."""

from tests.integration.api.conftest import (  # noqa: F401  (fixtures, re-exported)
    api_container,
    api_settings,
    client,
    he_vectors,
    other_user,
    session_client,
    user,
)
