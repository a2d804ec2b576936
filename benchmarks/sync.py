"""The sync hot path under load: push, pull and the change feed at 1 to 256 requests in flight.

    python -m benchmarks.sync                  # 1, 4, 16, 64, 256 in flight; 1 and 2 workers
    python -m benchmarks.sync --quick          # 1, 16, 256 in flight; 1 worker; shorter

For each number of workers it starts ``reflective serve`` (production settings) on a fresh
database: the PostgreSQL of ``DATABASE_URL`` (or ``--pg-url``) when given, else an embedded
one. It registers users with a real SEAL public key (the node-seal test vectors, ~0.45 MB of
base64), moves them to full_sync and prefills each with 2 KiB entries. Then, for each
scenario and each number of requests in flight, a closed loop for ``--duration`` seconds:

- push: ``POST /api/sync/backup`` of a new 2 KiB entry (a new id each time);
- pull: ``GET /api/sync/backups?limit=100&device_id=...`` (a full page of 100 entries);
- changes: ``GET /api/sync/changes?limit=100&device_id=...`` from the start.

Slot ``i`` acts as user ``i % users``, so pushes of one user also meet its row lock. Reported
per run: req/s, p50/p99 of the answered requests (503s excluded), 503s with Retry-After,
other errors, and the server's CPU per request (user + system time of its processes, from
/proc, over the run, divided by the requests answered).

SQL statements per request, BEGIN/COMMIT/ROLLBACK included, are counted from the PostgreSQL
log on a dedicated database (``ALTER DATABASE .. SET log_statement = 'all'``; one server,
one request at a time) when the log file is readable (``--pg-log``); "n/a" otherwise.

The load generator is a small HTTP/1.1 client (one keep-alive connection per slot) so that
it costs the shared CPU as little as possible; it still runs on the same machine, so req/s
and latency depend on what else runs. The machine's load average is printed before each run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.load.driver import DEFAULT_VECTORS
from tests.load.server import (
    HOST,
    admin,
    cleanup,
    create_database,
    drop_database,
    serving,
)

ENTRY_BYTES = 2048
PAGE = 100
SCENARIOS = ("push", "pull", "changes")
PASSWORD = "benchmark password 1"
DEFAULT_PG_LOG = Path("/var/log/postgresql/postgresql-15-main.log")


@dataclass
class Options:
    workers: list[int] = field(default_factory=lambda: [1, 2])
    levels: list[int] = field(default_factory=lambda: [1, 4, 16, 64, 256])
    scenarios: list[str] = field(default_factory=lambda: list(SCENARIOS))
    duration: float = 10.0
    users: int = 16
    entries: int = 120
    pg_url: str | None = None
    pg_log: Path | None = DEFAULT_PG_LOG
    count_repeats: int = 20


# --- a minimal HTTP/1.1 client -----------------------------------------------------------


class Connection:
    """One keep-alive connection; one request at a time."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(HOST, self._port)
        assert self._reader is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{self._port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        try:
            status_line = await self._reader.readuntil(b"\r\n")
            status = int(status_line.split()[1])
            answer: dict[str, str] = {}
            while True:
                line = await self._reader.readuntil(b"\r\n")
                if line == b"\r\n":
                    break
                name, _, value = line.decode("latin-1").partition(":")
                answer[name.strip().lower()] = value.strip()
            content = await self._reader.readexactly(int(answer.get("content-length", "0")))
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.close()
            raise
        if answer.get("connection", "").lower() == "close":
            await self.close()
        return status, answer, content

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


# --- setup ---------------------------------------------------------------------------------


@dataclass
class User:
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}


def entry_body(entry_id: uuid.UUID, device: str, content_b64: str) -> bytes:
    return json.dumps(
        {
            "id": str(entry_id),
            "encrypted_content": content_b64,
            "content_iv": base64.b64encode(os.urandom(12)).decode(),
            "content_tag": base64.b64encode(os.urandom(16)).decode(),
            "created_at": "2026-11-01T08:00:00Z",
            "updated_at": "2026-11-01T09:00:00Z",
            "device_id": device,
        }
    ).encode()


CONTENT = base64.b64encode(os.urandom(ENTRY_BYTES)).decode()


async def expect(
    conn: Connection, method: str, path: str, headers: dict[str, str], body: bytes, status: int
) -> dict[str, Any]:
    got, _, content = await conn.request(method, path, headers, body)
    if got != status:
        raise RuntimeError(f"{method} {path}: {got} {content[:300]!r}")
    result: dict[str, Any] = json.loads(content) if content else {}
    return result


async def make_user(port: int, index: int, public_key: str, entries: int) -> User:
    conn = Connection(port)
    try:
        email = f"bench-{index}-{uuid.uuid4().hex[:8]}@example.com"
        json_headers = {"Content-Type": "application/json"}
        body = json.dumps({"email": email, "password": PASSWORD}).encode()
        await expect(conn, "POST", "/api/auth/register", json_headers, body, 201)
        form = f"username={email.replace('@', '%40')}&password={PASSWORD.replace(' ', '+')}"
        form_headers = {"Content-Type": "application/x-www-form-urlencoded"}
        tokens = await expect(conn, "POST", "/api/auth/token", form_headers, form.encode(), 200)
        user = User(email, tokens["access_token"])
        tier = {
            "privacy_tier": "full_sync",
            "consent_timestamp": "2026-11-01T10:00:00Z",
            "he_public_key": public_key,
        }
        await expect(
            conn, "PUT", "/api/users/me/privacy", user.headers, json.dumps(tier).encode(), 200
        )
        for _ in range(entries):
            body = entry_body(uuid.uuid4(), "prefill", CONTENT)
            await expect(conn, "POST", "/api/sync/backup", user.headers, body, 201)
        return user
    finally:
        await conn.close()


async def make_users(port: int, count: int, entries: int) -> list[User]:
    public_key = json.loads(DEFAULT_VECTORS.read_text())["public_key"]
    made: list[User] = []
    for start in range(0, count, 4):  # a few at a time: sign-up hashes passwords
        batch = range(start, min(count, start + 4))
        made += await asyncio.gather(*(make_user(port, i, public_key, entries) for i in batch))
    return made


# --- one run --------------------------------------------------------------------------------

Request = tuple[str, str, dict[str, str], bytes]


def request_maker(scenario: str, user: User, slot: int) -> Callable[[], Request]:
    device = f"bench-device-{slot}"
    if scenario == "push":
        return lambda: (
            "POST",
            "/api/sync/backup",
            user.headers,
            entry_body(uuid.uuid4(), device, CONTENT),
        )
    path = {
        "pull": f"/api/sync/backups?limit={PAGE}&device_id={device}",
        "changes": f"/api/sync/changes?limit={PAGE}&device_id={device}",
    }[scenario]
    return lambda: ("GET", path, user.headers, b"")


@dataclass
class RunResult:
    scenario: str
    workers: int
    in_flight: int
    load_before: str
    answered: int = 0
    busy: int = 0  # 503 with Retry-After
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    def percentile(self, share: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000

    @property
    def rate(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms(self) -> float:
        return self.cpu_seconds * 1000 / self.answered if self.answered else float("nan")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def run_level(
    port: int,
    cpu: Callable[[], float],
    users: list[User],
    scenario: str,
    workers: int,
    in_flight: int,
    duration: float,
) -> RunResult:
    result = RunResult(scenario, workers, in_flight, load_average())
    makers = [request_maker(scenario, users[i % len(users)], i) for i in range(in_flight)]
    conns = [Connection(port) for _ in range(in_flight)]
    stop_at = 0.0

    async def slot(i: int) -> None:
        while time.monotonic() < stop_at:
            method, path, headers, body = makers[i]()
            started = time.monotonic()
            try:
                status, answer, _ = await conns[i].request(method, path, headers, body)
            except (OSError, asyncio.IncompleteReadError):
                result.errors += 1
                continue
            if status == 503 and answer.get("retry-after"):
                result.busy += 1
            elif status >= 400:
                result.errors += 1
            else:
                result.answered += 1
                result.latencies.append(time.monotonic() - started)

    try:
        cpu_before, started = cpu(), time.monotonic()
        stop_at = started + duration
        await asyncio.gather(*(slot(i) for i in range(in_flight)))
        result.seconds = time.monotonic() - started
        result.cpu_seconds = cpu() - cpu_before
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    return result


# --- SQL statements per request, from the PostgreSQL log -----------------------------------


def _log_size(path: Path) -> int:
    return path.stat().st_size


def _read_from(path: Path, offset: int) -> str:
    with path.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


async def count_statements(pg_url: str, pg_log: Path, repeats: int) -> dict[str, float]:
    """Requests one at a time on a dedicated database whose sessions log every statement."""
    name, url = await create_database(pg_url)
    marker = f"@{name} LOG:  "
    try:
        await admin(pg_url, f"ALTER DATABASE \"{name}\" SET log_statement = 'all'")
        async with serving(1, pg_url=pg_url, database_url=url) as env:
            port = int(env.base_url.rsplit(":", 1)[1])
            [user] = await make_users(port, 1, PAGE + 20)
            conn = Connection(port)
            edit_id = uuid.uuid4()
            kinds: dict[str, Callable[[], Request]] = {
                "new push": lambda: (
                    "POST",
                    "/api/sync/backup",
                    user.headers,
                    entry_body(uuid.uuid4(), "counter", CONTENT),
                ),
                "edit push": lambda: (
                    "POST",
                    "/api/sync/backup",
                    user.headers,
                    entry_body(edit_id, "counter", CONTENT),
                ),
                "GET /sync/backups?limit=100": request_maker("pull", user, 0),
                "GET /sync/changes?limit=100": request_maker("changes", user, 0),
                "GET /sync/conflicts": lambda: ("GET", "/api/sync/conflicts", user.headers, b""),
                "GET /users/me": lambda: ("GET", "/api/users/me", user.headers, b""),
                "GET /tags": lambda: ("GET", "/api/tags", user.headers, b""),
            }
            counts = {}
            try:
                for kind, make in kinds.items():
                    for _ in range(3):  # warm: connections, prepared statements
                        await conn.request(*make())
                    await asyncio.sleep(0.3)
                    start = await asyncio.to_thread(_log_size, pg_log)
                    for _ in range(repeats):
                        status, _, content = await conn.request(*make())
                        if status >= 400:
                            raise RuntimeError(f"{kind}: {status} {content[:200]!r}")
                    await asyncio.sleep(0.5)  # let PostgreSQL write its log
                    text = await asyncio.to_thread(_read_from, pg_log, start)
                    lines = [ln for ln in text.splitlines() if marker in ln]
                    statements = [ln for ln in lines if "statement: " in ln or "execute " in ln]
                    counts[kind] = len(statements) / repeats
            finally:
                await conn.close()
            return counts
    finally:
        await drop_database(pg_url, name)


# --- the whole benchmark -------------------------------------------------------------------


def print_table(results: list[RunResult]) -> None:
    print(
        "| scenario | workers | in flight | load before | req/s | p50 ms | p99 ms "
        "| 503 + Retry-After | errors | server CPU ms/req |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.scenario} | {r.workers} | {r.in_flight} | {r.load_before} | {r.rate:.0f} "
            f"| {r.percentile(0.5):.1f} | {r.percentile(0.99):.1f} | {r.busy} | {r.errors} "
            f"| {r.cpu_ms:.2f} |",
            flush=True,
        )


async def benchmark(options: Options) -> int:
    embedded_dir: Path | None = None
    pg_url = options.pg_url
    pg_log = options.pg_log
    if pg_url is None:
        # The embedded server logs elsewhere: count statements only from a log named for it.
        pg_log = pg_log if pg_log != DEFAULT_PG_LOG else None
        import tempfile

        from reflective_adapters.postgres.embedded import start_embedded

        embedded_dir = Path(tempfile.mkdtemp(prefix="reflective-bench-pg-"))
        pg_url = await asyncio.to_thread(start_embedded, embedded_dir)
    try:
        print(f"# python -m benchmarks.sync, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
        print(f"# {os.cpu_count()} CPUs; load before: {load_average()}\n", flush=True)
        counts: dict[str, float] = {}
        if pg_log is not None and os.access(pg_log, os.R_OK):
            counts = await count_statements(pg_url, pg_log, options.count_repeats)
        if counts and all(counts.values()):
            print("| request | SQL statements (BEGIN/COMMIT included) |")
            print("|---|---:|")
            for kind, count in counts.items():
                print(f"| {kind} | {count:g} |")
            print(flush=True)
        else:
            print("SQL statements per request: n/a (no readable log of this PostgreSQL)\n")
        results: list[RunResult] = []
        for workers in options.workers:
            async with serving(workers, pg_url=pg_url) as env:
                port = int(env.base_url.rsplit(":", 1)[1])
                users = await make_users(port, options.users, options.entries)
                for scenario in options.scenarios:
                    for level in options.levels:
                        result = await run_level(
                            port,
                            env.server.cpu_seconds,
                            users,
                            scenario,
                            workers,
                            level,
                            options.duration,
                        )
                        results.append(result)
                        print_table([result])
        print()
        print_table(results)
        return 0
    finally:
        cleanup()
        if embedded_dir is not None:
            from reflective_adapters.postgres.embedded import stop_embedded

            await asyncio.to_thread(stop_embedded, embedded_dir)
            shutil.rmtree(embedded_dir, ignore_errors=True)


def parse(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sync", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1, 16, 256 in flight; 1 worker")
    parser.add_argument("--workers", type=int, nargs="+")
    parser.add_argument("--levels", type=int, nargs="+")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS)
    parser.add_argument("--duration", type=float)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--entries", type=int, default=120, help="prefilled per user")
    parser.add_argument("--pg-url", default=os.environ.get("DATABASE_URL") or None)
    parser.add_argument("--pg-log", type=Path, default=DEFAULT_PG_LOG)
    args = parser.parse_args(argv)
    options = Options(users=args.users, entries=args.entries, pg_url=args.pg_url)
    options.pg_log = args.pg_log
    if args.quick:
        options.workers, options.levels, options.duration = [1], [1, 16, 256], 5.0
    options.workers = args.workers or options.workers
    options.levels = args.levels or options.levels
    options.scenarios = args.scenarios or options.scenarios
    options.duration = args.duration or options.duration
    return options


def main(argv: list[str] | None = None) -> int:
    options = parse(sys.argv[1:] if argv is None else argv)
    try:
        return asyncio.run(benchmark(options))
    except KeyboardInterrupt:
        cleanup()
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
