"""Schemathesis against the app's own OpenAPI document (``/docs/openapi.json``).

Every documented operation gets schema examples, schemathesis's coverage cases (boundary
and invalid values) and random valid and invalid requests, sent by a signed-in full_sync
user. Checks: never a 5xx, every answer's status is one the operation documents, its
content type is the documented one, and its body matches the documented schema (errors:
the shared ``Error``, 422 as the ``{loc, msg, type}`` list).

The app runs under uvicorn in a thread on a free 127.0.0.1 port, with an engine of its own on
the test database: schemathesis drives requests synchronously from the test thread, so the
app cannot share the session's event loop (nor its engine). Bounded for CI: a handful of
examples per operation, no shrinking, derandomized (the same cases every run).
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from dependency_injector import providers
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from reflective_app.container import Container
from reflective_app.errors import STATUS
from reflective_app.main import create_app
from reflective_app.settings import Settings
from reflective_protocol.errors import ErrorCode
from tests.integration.api.conftest import bearer, fast_hasher
from tests.integration.api.sync_client import entry_upload
from tests.integration.security.helpers import Vectors
from tests.integration.security.routes import STREAMING, app_openapi_document

pytestmark = pytest.mark.slow  # `pytest -m "not slow"` leaves it out

OPENAPI_PATH = "/docs/openapi.json"
MAX_EXAMPLES = 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


class ThreadedServer:
    """uvicorn serving ``app`` from a thread of its own, on a port the OS picked."""

    def __init__(self, app: Any) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        port = self._socket.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            app, lifespan="on", log_config=None, access_log=False, timeout_graceful_shutdown=5
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the app did not start under uvicorn")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._socket.close()


class FuzzUser:
    """A full_sync user of the fuzzed app, with an object of each kind to aim ids at.

    Access tokens are minted per request from the app's own token service: a fuzzed
    logout or password change may end every session, and must not end the fuzzing."""

    def __init__(
        self, http: httpx.Client, container: Container, he_public_key: str, password: str
    ) -> None:
        self.http, self._container, self._key = http, container, he_public_key
        email = f"fuzz-{uuid.uuid4().hex[:8]}@example.com"
        created = http.post("/api/auth/register", json={"email": email, "password": password})
        assert created.status_code == 201, created.text
        self.id = uuid.UUID(created.json()["id"])
        self.restore_tier()

    def headers(self) -> dict[str, str]:
        return bearer(self._container.tokens().issue_access(self.id))

    def restore_tier(self) -> None:
        body = {
            "privacy_tier": "full_sync",
            "consent_timestamp": "2026-11-01T10:00:00Z",
            "he_public_key": self._key,
        }
        response = self.http.put("/api/users/me/privacy", json=body, headers=self.headers())
        assert response.status_code == 200, response.text

    def new_object(self, parameter: str) -> str | None:
        """A fresh object of the kind ``parameter`` names (None if this suite knows none)."""
        headers = self.headers()
        if parameter == "tag_id":
            name = f"fuzz-{uuid.uuid4().hex[:8]}"
            response = self.http.post("/api/tags", json={"name": name}, headers=headers)
            return str(response.json()["id"])
        if parameter == "backup_id":
            body = entry_upload()
            self.http.post("/api/sync/backup", json=body, headers=headers)
            return str(body["id"])
        if parameter == "entry_id":  # edited once, so it has a kept version to list
            entry_id = uuid.uuid4()
            for content in (b"first", b"second"):
                body = entry_upload(entry_id, content=content)
                self.http.post("/api/sync/backup", json=body, headers=headers)
            return str(entry_id)
        if parameter == "conflict_id":
            entry_id = uuid.uuid4()
            self.http.post("/api/sync/backup", json=entry_upload(entry_id), headers=headers)
            clash = entry_upload(entry_id, device="phone", updated_at="2026-11-01T10:00:00Z")
            response = self.http.post("/api/sync/backup", json=clash, headers=headers)
            return str(response.json()["detail"]["conflict_id"])
        return None


@pytest.fixture(scope="module")
def fuzz_target(api_settings: Settings, he_vectors: Vectors) -> Iterator[tuple[str, Container]]:
    """The production app on the test database, under uvicorn; its engine is made in its
    own lifespan, on uvicorn's loop."""
    container = Container()
    container.settings.override(providers.Object(api_settings))
    container.database_url.override(providers.Object(api_settings.database_url))
    container.hasher.override(providers.Singleton(fast_hasher))
    with ThreadedServer(create_app(container)) as server:
        yield server.base_url, container


@pytest.fixture
def fuzz_user(
    fuzz_target: tuple[str, Container], he_vectors: Vectors, pg_clean: None
) -> Iterator[FuzzUser]:
    base_url, container = fuzz_target
    with httpx.Client(base_url=base_url, timeout=60) as http:
        yield FuzzUser(http, container, he_vectors["public_key"], "fuzzing password")


def test_the_fuzzed_document_is_the_served_one(fuzz_target: tuple[str, Container]) -> None:
    base_url, _ = fuzz_target
    served = httpx.get(base_url + OPENAPI_PATH)
    assert served.status_code == 200
    assert served.json() == DOCUMENT


# Built at collection time (so each operation is a test of its own) from an app built as in
# production; the test above checks it is what the running app serves.
DOCUMENT = app_openapi_document()
schema = schemathesis.openapi.from_dict(
    DOCUMENT,
    config=SchemathesisConfig.from_dict(
        {
            "generation": {"max-examples": MAX_EXAMPLES, "no-shrink": True},
            "phases": {"stateful": {"enabled": False}},
        }
    ),
).exclude(func=lambda ctx: ctx.operation.label in STREAMING)

# Operations after which the user is no longer full_sync (so later cases would only see 403).
_TIER_CHANGERS = {"PUT /api/users/me/privacy", "DELETE /api/users/me/privacy/revoke"}


def _aim_at_real_objects(case: Any, user: FuzzUser) -> None:
    """Half of the well-formed ids are swapped for an object of the user's that exists, so
    the fuzzed requests reach the code behind the 404 (deterministic: decided by the
    generated id itself)."""
    for name, value in (case.path_parameters or {}).items():
        if _is_uuid(value) and value[0] in "01234567":
            real = user.new_object(name)
            if real is not None:
                case.path_parameters[name] = real


def _is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


_BESIDE_DETAIL = {"conflict_id", "log_id", "ids"}  # stale_resolution, batch_conflict


def _assert_error_shape(case: Any, response: Any) -> None:
    """The contract's error shape, whatever the status: ``{"detail": <string | list of
    {loc, msg, type} | object>, "code": <an ErrorCode>}``, the status the code's own; a 409
    whose ``detail`` is a string may carry the fields its code names beside it."""
    label = f"{case.operation.label}: {response.status_code} {response.text[:300]}"
    content_type = response.headers.get("content-type") or [""]  # values are lists here
    assert content_type[0].startswith("application/json"), label
    body = response.json()
    assert isinstance(body, dict) and {"detail", "code"} <= set(body), label
    assert STATUS[ErrorCode(body["code"])] == response.status_code, label
    if set(body) != {"detail", "code"}:
        assert response.status_code == 409 and isinstance(body["detail"], str), label
        assert set(body) - {"detail", "code"} <= _BESIDE_DETAIL, label
    detail = body["detail"]
    if isinstance(detail, list):
        assert detail and all(set(item) == {"loc", "msg", "type"} for item in detail), label
    else:
        assert isinstance(detail, (str, dict)), label


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_conforms_to_its_openapi_document(
    case: Any, fuzz_target: tuple[str, Container], fuzz_user: FuzzUser
) -> None:
    _aim_at_real_objects(case, fuzz_user)
    response = case.call(base_url=fuzz_target[0], headers=fuzz_user.headers())
    case.validate_response(response, checks=CHECKS)
    if response.status_code >= 400:
        _assert_error_shape(case, response)
    if case.operation.label in _TIER_CHANGERS and response.status_code < 300:
        fuzz_user.restore_tier()
