"""The load generator (``python -m benchmarks.load``), tiny and short: 2 users x 2 devices for a
few seconds against a real ``reflective serve`` subprocess on a fresh database of the test
PostgreSQL. It must find nothing wrong; then, with the database damaged on purpose behind the
server's back, its verification must fail on exactly what was damaged."""

from __future__ import annotations

import time

import pytest

from tests.integration.conftest import PgServer
from tests.load.driver import (
    CHANGES,
    LOGIN,
    METRICS,
    PUSH,
    RESOLVE,
    LoadRun,
    Workload,
)
from tests.load.model import Check
from tests.load.server import serving
from tests.load.stats import Recorder
from tests.load.tamper import forge_delivery, tamper
from tests.load.verify import verify

pytestmark = pytest.mark.slow  # `pytest -m "not slow"` leaves it out

STEADY_SECONDS = 3.0


async def test_load_generator_finds_nothing_then_finds_the_damage(pg_server: PgServer) -> None:
    started = time.monotonic()
    recorder = Recorder()
    # Conflicts resolved at once and retries often, so a short run covers those paths too.
    workload = Workload(devices=4, seed=7, resolve_rate=0.8, retry_rate=0.2)
    async with (
        serving(1, pg_url=pg_server.url, startup_timeout=60) as env,
        LoadRun(env.base_url, workload, recorder) as run,
    ):
        await run.setup()
        await run.steady(STEADY_SECONDS)
        await run.probe()
        clean = await verify(run)
        assert clean.ok, "\n".join([clean.listing(), *recorder.examples()])
        steady = recorder.phases["steady"]
        for endpoint in (CHANGES, PUSH):  # the mix's heaviest; metrics come with the setup
            assert steady[endpoint].count > 0, endpoint
        assert recorder.phases["setup"][METRICS].count == 2  # the upgrade's upload, per user
        assert recorder.phases["setup"][LOGIN].count == 4  # once per device
        assert run.activity["409 answers"] >= 2 and run.activity["probe conflicts"] == 2
        for check in (Check.LOST, Check.MISSED, Check.CONFLICTS, Check.FEED, Check.LISTING):
            assert clean.checked[check] > 0, check
        assert clean.checked[Check.PROBE] == 2 and clean.checked[Check.METRICS] == 4
        resolved = sum(v for k, v in run.activity.items() if k.startswith("conflicts resolved"))
        refused = run.activity["resolutions refused: entry changed since listed"]
        assert resolved + refused == (steady[RESOLVE].count if RESOLVE in steady else 0)

        # A missed conflict: the server is told the phone was sent the laptop's revision.
        await run.probe(forge_delivery(env.database_url))
        # A lost write, a lost metric, a conflict closed behind the client's back.
        await tamper("delete-entry", env.database_url, run)
        await tamper("drop-metric", env.database_url, run)
        await tamper("close-conflict", env.database_url, run)
        damaged = await verify(run)

    assert not damaged.ok
    assert damaged.count(Check.MISSED) == 1 and damaged.count(Check.PROBE) == 1
    assert damaged.count(Check.LOST) >= 1
    assert damaged.count(Check.METRICS) == 1
    assert damaged.count(Check.CONFLICTS) >= 1
    assert {p.user for p in damaged.failures} == {0}  # the other user is untouched
    print(f"load smoke test: {time.monotonic() - started:.1f} s")
