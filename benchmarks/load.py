"""Load generator: N simulated devices (two per user) doing the web client's flow against
``reflective serve --workers K`` on PostgreSQL, then a check that nothing was lost.

    python -m benchmarks.load --devices 40 --duration 30 --workers 2

It creates a fresh database ``load_<hex>`` on the PostgreSQL of ``--pg-url`` (default
postgresql://postgres@127.0.0.1:5432/postgres) and drops it at the end, unless
``--database-url`` names one to use as is; starts the server on 127.0.0.1 and a free port
(production settings, a random SECRET_KEY), waits for /api/health/ready and every worker;
then:

1. setup: register each user, sign in each device once (form login; argon2 is deliberately
   slow, so never per request), upgrade to full_sync with the node-seal vectors' HE public
   key, upload the upgrade's metrics, create the entries both devices will edit;
2. steady state, ``--duration`` seconds: each device, one operation at a time, pulls the change
   feed (its device_id and cursor) or the backups listing, creates entries, edits entries
   from its local copy without pulling first (so both devices edit the same entries and get
   409s), resolves about half of its conflicts (list, pick by log_id, local/remote/merged),
   retries some uploads, uploads metric batches (the vectors' ciphertexts, encoded once),
   aggregates;
3. probe: per user, a stale edit made on purpose, which must be a 409;
4. verification (a fresh device reads everything back): every 201 upload and every resolution
   is the entry's current version or was replaced by a later accepted revision; every
   accepted edit was based on the revision before it (else a conflict was missed); every 409's
   conflict is open, resolved by us, or superseded by its device's later write; the
   incremental feed, the backups listing and the full feed agree; the accepted metric batch
   sizes add up to the aggregate ``count`` per user and type.

It prints Markdown tables (per endpoint: count, req/s, latency percentiles, errors; the
verification) with the machine's load average and who used the CPU, and exits 1 if any check
failed or any request had an unexpected status (2 if the server or the setup failed).
A resolution that overwrote a revision written after its conflict was listed is reported as a
warning, not a failure (the resolve route has no precondition to prevent it).
``--tamper MODE`` damages the database on purpose (see ``tests.load.tamper``) to show the
verification fails. Throughput is closed-loop (no think time by default): every device sends
its next request as soon as the last one is answered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tests.load.driver import DEFAULT_MIX, DEFAULT_VECTORS, LoadRun, SetupFailed, Workload
from tests.load.server import (
    DEFAULT_PG_URL,
    ServerFailed,
    cleanup,
    database_backends,
    machine_cpu,
    processes_cpu,
    serving,
)
from tests.load.stats import Recorder
from tests.load.tamper import BEFORE_VERIFY, MODES, TamperFailed, forge_delivery, tamper
from tests.load.verify import Verification, verify

LOADAVG_INTERVAL = 1.0


@dataclass(frozen=True)
class Options:
    workload: Workload = field(default_factory=Workload)
    duration: float = 30.0
    workers: int = 1
    pg_url: str = DEFAULT_PG_URL
    database_url: str | None = None
    keep_database: bool = False
    tamper: str | None = None
    startup_timeout: float = 90.0
    server_log_level: str = "INFO"
    server_log: Path | None = None
    json_path: Path | None = None


@dataclass
class Report:
    options: Options
    command: str
    recorder: Recorder
    verification: Verification
    activity: dict[str, int]
    phase_seconds: dict[str, float]
    loadavg_start: tuple[float, float, float]
    loadavg_end: tuple[float, float, float]
    loadavg_samples: list[float]
    cpu: dict[str, float]
    ready_seconds: float
    database: str
    tamper_note: str | None = None
    started_at: str = ""

    @property
    def ok(self) -> bool:
        return self.verification.ok

    def markdown(self) -> str:
        o, w = self.options, self.options.workload
        steady = self.phase_seconds.get("steady", 0.0)
        samples = self.loadavg_samples or [float("nan")]
        cpus = os.cpu_count() or 1
        lines = [
            f"### Load: `--workers {o.workers}`, {w.users} users x 2 devices, "
            f"{o.duration:g} s steady state",
            "",
            f"- command: `{self.command}`",
            f"- started {self.started_at}; server `reflective serve --workers {o.workers}` on "
            f"127.0.0.1, PostgreSQL database `{self.database}`; ready in "
            f"{self.ready_seconds:.1f} s",
            f"- load average (1/5/15 min) at start {_avg(self.loadavg_start)}, at end "
            f"{_avg(self.loadavg_end)}; 1-min during the steady phase min/mean/max "
            f"{min(samples):.2f}/{sum(samples) / len(samples):.2f}/{max(samples):.2f} "
            f"({cpus} CPUs; other work on the machine shows here)",
            self._cpu_line(steady),
            f"- mix (relative weights): {', '.join(f'{n} {v}' for n, v in w.mix)}; "
            f"entry {w.entry_bytes} B; metric batch {w.metrics_batch}; think time "
            f"{w.think_seconds * 1000:g} ms; seed {w.seed}",
            "",
            f"#### Steady state ({steady:.1f} s)",
            "",
            self.recorder.table("steady", steady),
            "",
            f"#### Setup ({self.phase_seconds.get('setup', 0):.1f} s: register, one form "
            f"login per device, full_sync upgrade with its metrics upload, shared entries)",
            "",
            self.recorder.table("setup", self.phase_seconds.get("setup", 0)),
            "",
            "#### Verification",
            "",
            self.verification.table(),
            "",
            "Activity: "
            + "; ".join(f"{name} {count}" for name, count in sorted(self.activity.items())),
        ]
        if self.tamper_note:
            lines += ["", f"**Tampered on purpose** (`--tamper {o.tamper}`): {self.tamper_note}."]
        if self.verification.problems:
            lines += ["", "Problems:", "", self.verification.listing()]
        examples = self.recorder.examples()
        if examples:
            lines += ["", "Unexpected answers (first of each endpoint):", ""]
            lines += [f"- `{e}`" for e in examples]
        failures, warnings = self.verification.failures, self.verification.warnings
        verdict = "PASS" if self.ok else "FAIL"
        lines += [
            "",
            f"**Result: {verdict}** — {len(failures)} failed checks, "
            f"{self.verification.request_errors} unexpected answers, {len(warnings)} warnings.",
        ]
        return "\n".join(lines)

    def _cpu_line(self, steady: float) -> str:
        c = self.cpu
        if not steady or not c.get("machine_total"):
            return "- CPU: not measured"
        parts = [f"server {c['server']:.1f}", f"load generator {c['driver']:.1f}"]
        if "postgres" in c:
            parts.insert(1, f"PostgreSQL backends {c['postgres']:.1f}")
        requests = sum(stats.count for stats in self.recorder.phases.get("steady", {}).values())
        per_request = f"{c['server'] * 1000 / requests:.1f}" if requests else "-"
        others = c["machine_busy"] - sum(c.get(k, 0.0) for k in ("server", "postgres", "driver"))
        return (
            f"- CPU during the steady phase: machine busy {c['machine_busy']:.1f} of "
            f"{c['machine_total']:.1f} CPU-s ({c['machine_busy'] / c['machine_total']:.0%}): "
            f"{', '.join(parts)}, everything else {max(others, 0.0):.1f}; the server used "
            f"{c['server'] / steady:.2f} cores, {per_request} ms of CPU per request"
        )

    def as_json(self) -> dict[str, Any]:
        steady = self.phase_seconds.get("steady", 0.0)
        return {
            "command": self.command,
            "started_at": self.started_at,
            "workers": self.options.workers,
            "users": self.options.workload.users,
            "duration": self.options.duration,
            "workload": {k: str(v) for k, v in asdict(self.options.workload).items()},
            "phase_seconds": self.phase_seconds,
            "loadavg_start": self.loadavg_start,
            "loadavg_end": self.loadavg_end,
            "loadavg_samples": self.loadavg_samples,
            "cpu_seconds": self.cpu,
            "steady": self.recorder.summaries("steady", steady),
            "setup": self.recorder.summaries("setup", self.phase_seconds.get("setup", 0)),
            "verification": {
                "ok": self.ok,
                "checked": {c.name: n for c, n in self.verification.checked.items()},
                "problems": [str(p) for p in self.verification.problems],
                "request_errors": self.verification.request_errors,
            },
            "activity": self.activity,
            "tamper": self.tamper_note,
        }


def _avg(values: Sequence[float]) -> str:
    return "/".join(f"{v:.2f}" for v in values)


async def _sample_loadavg(samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append(os.getloadavg()[0])
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), LOADAVG_INTERVAL)


class CpuMeter:
    """CPU seconds over the steady phase: the server's processes, the database's backends,
    this process, and the whole machine (the rest is other people's work)."""

    def __init__(self, database_url: str, server_seconds: Callable[[], float]) -> None:
        self._url, self._server = database_url, server_seconds
        self.seconds: dict[str, float] = {}

    async def _backends(self) -> list[int]:
        try:
            return await database_backends(self._url)
        except Exception:  # PostgreSQL elsewhere, or no rights: not measured
            return []

    async def start(self) -> None:
        self._pids = await self._backends()
        self._pg = processes_cpu(self._pids)
        self._marks = (self._server(), time.process_time(), machine_cpu())

    async def stop(self) -> None:
        server, driver, (busy, total) = self._server(), time.process_time(), machine_cpu()
        pids = sorted(set(self._pids) | set(await self._backends()))
        pg = processes_cpu(pids)
        self.seconds = {
            "server": server - self._marks[0],
            "driver": driver - self._marks[1],
            "machine_busy": busy - self._marks[2][0],
            "machine_total": total - self._marks[2][1],
        }
        if pg:
            self.seconds["postgres"] = sum(v - self._pg.get(p, 0.0) for p, v in pg.items())


async def run(options: Options, command: str = "") -> Report:
    """The whole benchmark: database, server, setup, steady state, probe, verification."""
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    loadavg_start = os.getloadavg()
    recorder = Recorder()
    async with (
        serving(
            options.workers,
            pg_url=options.pg_url,
            database_url=options.database_url,
            keep_database=options.keep_database,
            startup_timeout=options.startup_timeout,
            log_level=options.server_log_level,
            log_path=options.server_log,
        ) as env,
        LoadRun(env.base_url, options.workload, recorder) as load,
    ):
        await load.setup()
        samples: list[float] = []
        stop = asyncio.Event()
        sampler = asyncio.create_task(_sample_loadavg(samples, stop))
        cpu = CpuMeter(env.database_url, env.server.cpu_seconds)
        await cpu.start()
        try:
            await load.steady(options.duration)
        finally:
            await cpu.stop()
            stop.set()
            await sampler
        hook = None
        if options.tamper == "forge-delivery":
            hook = forge_delivery(env.database_url)
        await load.probe(hook)
        note = None
        if options.tamper in BEFORE_VERIFY:
            note = await tamper(options.tamper, env.database_url, load)
        elif options.tamper is not None:
            note = "the first user's phone was recorded as sent the probe's latest revision"
        verification = await verify(load)
        return Report(
            options=options,
            command=command,
            recorder=recorder,
            verification=verification,
            activity=dict(load.activity),
            phase_seconds=load.phase_seconds,
            loadavg_start=loadavg_start,
            loadavg_end=os.getloadavg(),
            loadavg_samples=samples,
            cpu=cpu.seconds,
            ready_seconds=env.ready_seconds,
            database=env.database_name or "(--database-url)",
            tamper_note=note,
            started_at=started_at,
        )


def _mix(text: str) -> tuple[tuple[str, int], ...]:
    """``pull=25,edit=38,...``: weights for some operations, the others keep theirs."""
    mix = dict(DEFAULT_MIX)
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        if name not in mix or not weight.isdigit():
            raise argparse.ArgumentTypeError(f"bad mix item {part!r} (known: {', '.join(mix)})")
        mix[name] = int(weight)
    return tuple(mix.items())


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.load",
        description="Load-test `reflective serve` with simulated web-client devices.",
    )
    parser.add_argument("--devices", type=int, default=40, help="even; two per user (40)")
    parser.add_argument("--duration", type=float, default=30.0, help="steady-state seconds")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("LOAD_PG_URL", DEFAULT_PG_URL),
        help="PostgreSQL server where a fresh database load_<hex> is created and dropped "
        "(env LOAD_PG_URL; default %(default)s)",
    )
    parser.add_argument("--database-url", help="use this database as is (not created/dropped)")
    parser.add_argument("--keep-database", action="store_true", help="do not drop it")
    parser.add_argument("--seed", type=int, default=1, help="the devices' random choices")
    parser.add_argument("--think-ms", type=float, default=0.0, help="mean pause between ops")
    parser.add_argument("--entry-bytes", type=int, default=1024, help="ciphertext per entry")
    parser.add_argument("--metrics-batch", type=int, default=2, help="ciphertexts per upload")
    parser.add_argument(
        "--resolve-rate", type=float, default=0.5, help="share of 409s resolved at once"
    )
    parser.add_argument("--retry-rate", type=float, default=0.05, help="uploads sent twice")
    parser.add_argument(
        "--mix",
        type=_mix,
        default=tuple(DEFAULT_MIX.items()),
        help="operation weights, e.g. edit=50,metrics=0 (default "
        + ",".join(f"{k}={v}" for k, v in DEFAULT_MIX.items())
        + ")",
    )
    parser.add_argument("--request-timeout", type=float, default=30.0, help="seconds")
    parser.add_argument("--max-ops-per-device", type=int, default=100_000, help="a bound")
    parser.add_argument("--startup-timeout", type=float, default=90.0, help="seconds")
    parser.add_argument("--vectors", type=Path, default=DEFAULT_VECTORS, help="node-seal JSON")
    parser.add_argument("--server-log", type=Path, help="keep the server's log here")
    parser.add_argument("--server-log-level", default="INFO", help="the server's LOG_LEVEL")
    parser.add_argument("--tamper", choices=MODES, help="damage the database on purpose")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.duration <= 0:
        parser.error("--workers must be >= 1 and --duration > 0")
    try:
        workload = Workload(
            devices=args.devices,
            seed=args.seed,
            entry_bytes=args.entry_bytes,
            metrics_batch=args.metrics_batch,
            resolve_rate=args.resolve_rate,
            retry_rate=args.retry_rate,
            think_seconds=args.think_ms / 1000,
            request_timeout=args.request_timeout,
            max_ops_per_device=args.max_ops_per_device,
            mix=args.mix,
            vectors=args.vectors,
        )
    except ValueError as exc:
        parser.error(str(exc))
    options = Options(
        workload=workload,
        duration=args.duration,
        workers=args.workers,
        pg_url=args.pg_url,
        database_url=args.database_url,
        keep_database=args.keep_database,
        tamper=args.tamper,
        startup_timeout=args.startup_timeout,
        server_log_level=args.server_log_level,
        server_log=args.server_log,
        json_path=args.json,
    )
    return options


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    options = parse_args(argv)
    command = shlex.join(["python", "-m", "benchmarks.load", *argv])
    # SIGTERM as Ctrl-C: the run's cleanup (server stopped, database dropped) still happens.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        report = asyncio.run(run(options, command))
    except (ServerFailed, SetupFailed, TamperFailed) as exc:
        print(f"load: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("load: interrupted", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        return 2
    finally:
        cleanup()  # a server left running by an interrupted run
    print(report.markdown())
    if options.json_path is not None:
        options.json_path.write_text(json.dumps(report.as_json(), indent=2, default=str))
    return 0 if report.ok else 1


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
