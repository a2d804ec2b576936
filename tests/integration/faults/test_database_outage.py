"""PostgreSQL stops while the app runs (a dedicated, restartable server; see conftest):
readiness and ordinary requests answer 503 ``{"detail": ...}``, never 500 and never a hang;
a write cut off by the outage leaves nothing half-written; and once PostgreSQL is back the
same app process serves again by itself: the pool's dead connections are replaced on checkout
(seen closed there, with no pre-ping round trip) rather than handed to a request, and none is
leaked by the outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from dependency_injector import providers
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from reflective_app.container import Container
from reflective_app.errors import UNAVAILABLE
from reflective_app.main import create_app
from reflective_app.settings import Settings
from tests.integration.api.conftest import (
    TEST_SECRET,
    Account,
    fast_hasher,
    serve,
    set_tier,
    sign_up,
)
from tests.integration.api.sync_client import entry_upload
from tests.integration.faults.conftest import (
    RestartablePostgres,
    assert_metrics_whole,
    lock_rollup_writes,
    metrics_batch,
    nullpool_engine,
    stored_count,
    wait_for,
    wait_for_backend,
)

pytestmark = pytest.mark.slow  # `pytest -m "not slow"` leaves it out

BATCH = 96  # ~330 KB ciphertexts: an INSERT long enough to stop PostgreSQL in the middle of
JSON = {"Content-Type": "application/json"}
# A request that gets no answer in this long is taken to hang (the bug below hung forever):
# a bound against a hung suite, not a measure of how fast the answer is.
HANG_SECONDS = 60.0


def production_container(database_url: str, data_dir: Path) -> Container:
    """The container ``reflective serve`` builds: its own engine and pool (the production
    settings under test), migrations at startup. Only password hashing is made cheap."""
    settings = Settings(
        secret_key=TEST_SECRET, data_dir=data_dir, database_url=database_url, log_level="INFO"
    )
    container = Container()
    container.settings.override(providers.Object(settings))
    container.hasher.override(providers.Singleton(fast_hasher))
    return container


@dataclass
class Outage:
    client: httpx.AsyncClient
    pg: RestartablePostgres
    watcher: AsyncEngine  # the test's own connections, outside the app's pool
    app_engine: AsyncEngine
    account: Account
    he_vectors: dict[str, Any]
    stored: int = 0  # metrics the account holds

    def new_batch(self) -> bytes:
        """A batch never sent before (a resend of the same one would be recognised)."""
        return metrics_batch(self.he_vectors, BATCH).body

    @property
    def upload_headers(self) -> dict[str, str]:
        return {**self.account.headers, **JSON}


async def test_database_outage_answers_503_and_the_app_recovers_by_itself(
    restartable_pg: RestartablePostgres,
    he_vectors: dict[str, Any],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    container = production_container(restartable_pg.url, tmp_path)
    watcher = nullpool_engine(restartable_pg.url)
    try:
        async with serve(create_app(container)) as client:
            app_engine = container.engine()
            if inspect.isawaitable(app_engine):
                app_engine = await app_engine
            account = await sign_up(client)
            await set_tier(client, account, "full_sync", he_vectors["public_key"])
            first = await client.post(
                "/api/sync/backup", json=entry_upload(), headers=account.headers
            )
            assert first.status_code == 201, first.text
            assert (await client.get("/api/health/ready")).status_code == 200
            outage = Outage(
                client,
                restartable_pg,
                watcher,
                app_engine,
                account,
                he_vectors,
            )
            # "fast": PostgreSQL ends each session with "terminating connection due to
            # administrator command"; "immediate": its backends die, crash recovery follows.
            for mode in ("fast", "immediate"):
                await _stopped_during_a_batch(outage, mode)
            await _restarted_under_an_idle_pool(outage)
    finally:
        await watcher.dispose()
    assert not [r for r in caplog.records if "unhandled_error" in r.getMessage()], "a 500"


async def _stopped_during_a_batch(outage: Outage, mode: str) -> None:
    """Stop PostgreSQL while a metrics batch is being inserted; check the answers while it is
    down; start it; check the same app serves again with nothing half-written."""
    client, account = outage.client, outage.account
    seq_before = await _change_state(outage.watcher, account.id)
    # Rollup writes wait for this lock, so however slowly pg_ctl acts, the batch cannot
    # commit before PostgreSQL stops.
    rollups_held = await lock_rollup_writes(outage.watcher)
    batch = outage.new_batch()
    try:
        upload = asyncio.create_task(
            client.post("/api/encryption/metrics", content=batch, headers=outage.upload_headers)
        )
        writing = await wait_for_backend(
            outage.watcher,
            lambda b: b.has_written and b.query.startswith("INSERT INTO metrics"),
            timeout=60,
            unless_done=upload,
        )
        assert writing is not None, "the batch was never seen being inserted"
        await asyncio.to_thread(outage.pg.stop, mode)
    finally:
        with contextlib.suppress(Exception):  # its connection died with the server
            await rollups_held.close()

    # Answered at once. Before the fix in reflective_adapters.postgres.engine, asyncpg waited
    # forever here for a socket to drain that was already gone (the request hung, holding its
    # pooled connection). Not asyncio.wait_for: cancelling the hung request ends it in a 503.
    done, _ = await asyncio.wait({upload}, timeout=HANG_SECONDS)
    if not done:
        upload.cancel()
        with contextlib.suppress(BaseException):
            await upload
        pytest.fail(f"the batch cut off by the {mode} stop got no answer")
    cut_off = upload.result()
    assert cut_off.status_code == 503, (mode, cut_off.status_code, cut_off.text)
    assert cut_off.json() == {"detail": UNAVAILABLE, "code": "database_unavailable"}

    # While it is down: liveness fine, readiness says what is wrong, the rest 503.
    assert (await client.get("/api/health")).status_code == 200
    ready = await client.get("/api/health/ready")
    assert ready.status_code == 503
    assert ready.json() == {"status": "not_ready", "checks": {"database": "failed", "he": "ok"}}
    newcomer = {"email": f"late-{uuid.uuid4().hex[:8]}@example.com", "password": "pw " * 4}
    lost_entry = entry_upload()
    for method, url, kw in (
        ("GET", "/api/users/me", {"headers": account.headers}),
        ("GET", "/api/sync/backups", {"headers": account.headers}),
        ("POST", "/api/sync/backup", {"json": lost_entry, "headers": account.headers}),
        ("POST", "/api/auth/token", {"data": {"username": account.email, "password": "x"}}),
        ("POST", "/api/auth/register", {"json": newcomer}),
        (
            "POST",
            "/api/encryption/aggregate",
            {"json": {"metric_type": "word_count", "operation": "sum"}, "headers": account.headers},
        ),
    ):
        await _assert_unavailable(client, method, url, **kw)

    await asyncio.to_thread(outage.pg.start)

    async def ready_again() -> bool:
        return (await client.get("/api/health/ready")).status_code == 200

    assert await wait_for(ready_again, timeout=20, interval=0.1), "not ready after the restart"
    # The same process, the same token: served again, nothing of the outage left behind.
    me = await client.get("/api/users/me", headers=account.headers)
    assert me.status_code == 200, me.text
    await assert_metrics_whole(outage.watcher, account.id, {outage.stored})
    assert await _change_state(outage.watcher, account.id) == seq_before
    backups = await client.get("/api/sync/backups", headers=account.headers)
    assert lost_entry["id"] not in {b["id"] for b in backups.json()["backups"]}
    registered = await client.post("/api/auth/register", json=newcomer)
    assert registered.status_code == 201, registered.text  # the 503 left no half an account

    # Retried as the web client would: the whole batch lands and adds up.
    retried = await client.post(
        "/api/encryption/metrics", content=batch, headers=outage.upload_headers
    )
    assert retried.status_code == 201, retried.text
    outage.stored = await assert_metrics_whole(outage.watcher, account.id, {outage.stored + BATCH})
    total = await client.post(
        "/api/encryption/aggregate",
        json={"metric_type": "word_count", "operation": "sum"},
        headers=account.headers,
    )
    assert total.status_code == 200, total.text
    assert total.json()["count"] == await stored_count(outage.watcher, account.id, "word_count")
    # Every connection the outage's requests used went back to the pool (none hangs on).
    pool = outage.app_engine.pool
    assert isinstance(pool, QueuePool)
    assert pool.checkedout() == 0


async def _restarted_under_an_idle_pool(outage: Outage) -> None:
    """PostgreSQL restarts between requests: every pooled connection is dead, yet the very
    first requests afterwards succeed (each checkout sees its connection closed and
    reconnects), no 503."""
    client, headers = outage.client, outage.account.headers
    parallel = 6
    before = await asyncio.gather(*(client.get("/api/users/me", headers=headers) for _ in range(6)))
    assert [r.status_code for r in before] == [200] * parallel  # the pool holds connections
    await asyncio.to_thread(outage.pg.stop, "fast")
    await asyncio.to_thread(outage.pg.start)
    after = await asyncio.gather(*(client.get("/api/users/me", headers=headers) for _ in range(6)))
    assert [r.status_code for r in after] == [200] * parallel, [r.text for r in after]
    assert (await client.get("/api/health/ready")).status_code == 200


async def _assert_unavailable(client: httpx.AsyncClient, method: str, url: str, **kw: Any) -> None:
    """Answered, not left waiting on the database: 503 with the outage's detail and a
    Retry-After a client can honour (a whole number of seconds)."""
    response = await client.request(method, url, **kw)
    assert response.status_code == 503, (method, url, response.status_code, response.text)
    assert response.json() == {"detail": UNAVAILABLE, "code": "database_unavailable"}, (method, url)
    assert response.headers.get("retry-after", "").isdigit(), (method, url, response.headers)


async def _change_state(watcher: AsyncEngine, user_id: str) -> tuple[int, int, int]:
    """(users.change_seq, highest entry change_seq, entries) of a user."""
    async with watcher.connect() as connection:
        row = (
            await connection.execute(
                text(
                    "SELECT u.change_seq, coalesce(max(e.change_seq), 0), count(e.id)"
                    " FROM users u LEFT JOIN entries e ON e.user_id = u.id"
                    " WHERE u.id = :u GROUP BY u.change_seq"
                ),
                {"u": user_id},
            )
        ).one()
    return int(row[0]), int(row[1]), int(row[2])
