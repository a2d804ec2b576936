"""The API's smoke path through PgBouncer in transaction mode (Debian's pgbouncer, which
.ci/run installs): with DB_PGBOUNCER=true asyncpg keeps no statement cache and names each
prepared statement uniquely, so transactions moving between server connections never trip
over a statement prepared on another."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers
from sqlalchemy.engine import make_url

from reflective_adapters.postgres.embedded import SYSTEM_USER
from reflective_app.container import Container
from reflective_app.main import create_app
from reflective_app.settings import Settings
from tests.integration.api.conftest import Client, fast_hasher, serve, set_tier, sign_up
from tests.integration.api.he_client import metric_payload
from tests.integration.api.sync_client import entry_upload
from tests.integration.test_deploy import wait_for_port
from tests.integration.test_startup import free_port
from tests.system_tools import require

pytestmark = pytest.mark.slow  # `pytest -m "not slow"` leaves it out


@pytest.fixture(scope="module")
def pgbouncer(pg_database_url: str) -> Iterator[str]:
    """PgBouncer (transaction pooling, two server connections so transactions do move
    between them) in front of the test database; its URL."""
    binary = require("pgbouncer", package="pgbouncer")
    target = make_url(pg_database_url)
    socket_dir = target.query.get("host")
    host = str(socket_dir) if socket_dir else (target.host or "127.0.0.1")
    port = free_port()
    role = target.username or "postgres"
    tmp = Path(tempfile.mkdtemp(prefix="reflective-pgbouncer-"))
    tmp.chmod(0o755)
    (tmp / "pgbouncer.ini").write_text(
        f"""
[databases]
smoke = host={host} port={target.port or 5432} dbname={target.database} user={role}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 2
min_pool_size = 2
max_client_conn = 100
server_reset_query = DISCARD ALL
server_reset_query_always = 1
ignore_startup_parameters = extra_float_digits
"""
    )
    # PgBouncer refuses to run as root; the embedded server's socket is its user's.
    user = None
    if os.geteuid() == 0:
        user = SYSTEM_USER if socket_dir else "nobody"
        pwd.getpwnam(user)
    process = subprocess.Popen(
        [binary, str(tmp / "pgbouncer.ini")],
        user=user,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        password = f":{target.password}" if target.password else ""
        yield f"postgresql://{target.username or 'postgres'}{password}@127.0.0.1:{port}/smoke"
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
async def through_pgbouncer(
    pgbouncer: str, api_settings: Settings, pg_clean: None
) -> AsyncIterator[Client]:
    settings = replace(api_settings, database_url=pgbouncer, db_pgbouncer=True, db_pool_size=4)
    container = Container()
    container.settings.override(providers.Object(settings))
    # Migrated directly (as a pipeline would, MIGRATE_ON_START=false); the engine is the
    # app's own, built from the settings with PgBouncer's options.
    container.database_url.override(providers.Object(pgbouncer))
    container.hasher.override(providers.Singleton(fast_hasher))
    async with serve(create_app(container)) as client:
        yield client


async def test_api_smoke_through_pgbouncer_in_transaction_mode(
    through_pgbouncer: Client, he_vectors: dict[str, Any]
) -> None:
    """Sign-up, the full_sync tier, a push, a pull, a conflict and its resolution, a metrics
    upload and its aggregate: every kind of transaction the sync path runs."""
    client = through_pgbouncer
    for round_ in range(3):  # repeated: statements prepared again on other server connections
        account = await sign_up(client, f"smoke{round_}@example.com", "correct horse")
        assert (await client.get("/api/users/me", headers=account.headers)).status_code == 200
        await set_tier(client, account, "full_sync", he_vectors["public_key"])
        auth = account.headers
        tag = await client.post("/api/tags", json={"name": f"walks {round_}"}, headers=auth)
        assert tag.status_code == 201, tag.text
        tags = await client.get("/api/tags", headers=auth)
        assert tags.status_code == 200 and len(tags.json()) == 1

        entry_id = uuid.uuid4()
        pushed = await client.post("/api/sync/backup", json=entry_upload(entry_id), headers=auth)
        assert pushed.status_code == 201, pushed.text
        assert pushed.json()["revision"] == 1
        pulled = await client.get("/api/sync/changes", headers=auth)
        assert pulled.status_code == 200, pulled.text
        assert [(c["id"], c["revision"]) for c in pulled.json()["changes"]] == [(str(entry_id), 1)]

        other_device = entry_upload(entry_id, device="phone", updated_at="2026-11-01T10:00:00Z")
        conflict = await client.post("/api/sync/backup", json=other_device, headers=auth)
        assert conflict.status_code == 409, conflict.text
        conflict_id = conflict.json()["detail"]["conflict_id"]
        resolved = await client.post(
            f"/api/sync/conflicts/{conflict_id}/resolve",
            json={"chosen_version": "local"},
            headers=auth,
        )
        assert resolved.status_code == 200, resolved.text
        assert resolved.json()["details"]["revision"] == 2
        after = await client.get(
            "/api/sync/changes", params={"cursor": pulled.json()["next_cursor"]}, headers=auth
        )
        assert after.status_code == 200, after.text
        [change] = after.json()["changes"]
        assert (change["id"], change["revision"]) == (str(entry_id), 2)
        assert change["device_id"] == "phone"

        metrics = [metric_payload(m, log_id=f"e{i}") for i, m in enumerate(he_vectors["metrics"])]
        uploaded = await client.post(
            "/api/encryption/metrics", json={"metrics": metrics}, headers=auth
        )
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.json()["details"]["new"] == len(metrics)
        aggregate = await client.post(
            "/api/encryption/aggregate",
            json={"metric_type": "word_count", "operation": "sum"},
            headers=auth,
        )
        assert aggregate.status_code == 200, aggregate.text
        assert aggregate.json()["count"] == he_vectors["expected"]["word_count"]["count"]

        refreshed = await client.post(
            "/api/auth/refresh", json={"refresh_token": account.tokens["refresh_token"]}
        )
        assert refreshed.status_code == 200, refreshed.text
        assert (await client.get("/api/health/ready")).status_code == 200
