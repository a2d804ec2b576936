"""Soak under a hostile mix: does a normal client keep signing in and pushing?

    python -m benchmarks.hostile_soak --duration 20 --workers 1

Starts ``reflective serve`` (production settings, defaults otherwise) on a fresh database
(see ``tests.load.server``), registers a normal user on full_sync, then runs phases (``--phases``)
of ``--duration`` seconds each:

1. **quiet**: the normal client alone, in a loop: sign in (form login, argon2), push an
   encrypted entry, pause ``--pause`` seconds;
2. **flood**: the same client during the registration flood alone;
3. **hostile**: the same client while, at once:
   - ``--slow-headers`` connections send a request's headers one byte per second (slowloris),
     reopening when the server drops them;
   - ``--idle-uploads`` connections announce a 600 MiB metrics upload (``Content-Length``),
     send a few bytes of it and go idle;
   - ``--flooders`` tasks register new accounts back to back from one address.

Prints a Markdown table per phase: the normal client's sign-ins and pushes (ok / total and
latency percentiles), registrations attempted and how they were answered, how many hostile
connections were still held open by the server at the end, and the server's resident memory.
What the server does against slow headers and announced bodies comes from its uvicorn and
body-reading settings; this script only measures what the normal client sees.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import secrets
import statistics
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tests.load.server import DEFAULT_PG_URL, HOST, _processes, cleanup, serving

VECTORS = Path(__file__).parents[1] / "tests" / "data" / "he_ckks_node_seal_6.json"
ANNOUNCED_UPLOAD = 600 * 1024 * 1024


@dataclass
class Timings:
    ok: int = 0
    total: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)

    def add(self, status: str, seconds: float, ok: bool) -> None:
        self.total += 1
        self.ok += ok
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if ok:
            self.seconds.append(seconds)

    def latency(self) -> str:
        if not self.seconds:
            return "-"
        ms = sorted(s * 1000 for s in self.seconds)
        p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
        return f"{statistics.median(ms):.0f} / {p95:.0f} / {ms[-1]:.0f}"


@dataclass
class Phase:
    name: str
    sign_ins: Timings = field(default_factory=Timings)
    pushes: Timings = field(default_factory=Timings)
    registrations: Timings = field(default_factory=Timings)
    slow_open: int = 0
    slow_dropped: int = 0
    idle_open: int = 0
    idle_answered: dict[str, int] = field(default_factory=dict)
    rss_mib: float = 0.0


def server_rss_mib(group: int) -> float:
    total = 0
    for pid, (pgrp, _) in _processes().items():
        if pgrp != group:
            continue
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def entry(device: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "encrypted_content": base64.b64encode(os.urandom(512)).decode(),
        "content_iv": base64.b64encode(os.urandom(12)).decode(),
        "content_tag": base64.b64encode(os.urandom(16)).decode(),
        "created_at": "2026-11-01T09:00:00Z",
        "updated_at": "2026-11-01T09:00:00Z",
        "device_id": device,
    }


async def setup_user(client: httpx.AsyncClient, email: str, password: str, key: str) -> str:
    registered = await client.post(
        "/api/auth/register", json={"email": email, "password": password}
    )
    registered.raise_for_status()
    login = await client.post("/api/auth/token", data={"username": email, "password": password})
    login.raise_for_status()
    token = str(login.json()["access_token"])
    tier = await client.put(
        "/api/users/me/privacy",
        json={
            "privacy_tier": "full_sync",
            "consent_timestamp": "2026-11-01T10:00:00Z",
            "he_public_key": key,
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    tier.raise_for_status()
    return token


async def normal_client(
    base_url: str, email: str, password: str, phase: Phase, stop: asyncio.Event, pause: float
) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                login = await client.post(
                    "/api/auth/token", data={"username": email, "password": password}
                )
                status = str(login.status_code)
            except httpx.HTTPError as exc:
                login, status = None, type(exc).__name__
            phase.sign_ins.add(status, time.perf_counter() - started, status == "200")
            if login is not None and login.status_code == 200:
                headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
                started = time.perf_counter()
                try:
                    pushed = await client.post(
                        "/api/sync/backup", json=entry("soak-laptop"), headers=headers
                    )
                    status = str(pushed.status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                phase.pushes.add(status, time.perf_counter() - started, status == "201")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)


async def slow_header_connection(port: int, phase: Phase, stop: asyncio.Event) -> None:
    """Send a request's headers one byte a second; reopen when the server drops us."""
    request = (
        b"GET /api/health HTTP/1.1\r\nHost: soak\r\nUser-Agent: slow\r\n"
        + b"X-Padding: "
        + b"a" * 4000
        + b"\r\n\r\n"
    )
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            await asyncio.sleep(1)
            continue
        phase.slow_open += 1
        dropped = False
        try:
            for byte in request:
                if stop.is_set():
                    break
                writer.write(bytes([byte]))
                await writer.drain()
                with contextlib.suppress(asyncio.TimeoutError):
                    if await asyncio.wait_for(reader.read(1), 1.0) == b"":
                        dropped = True
                        break
        except (ConnectionError, OSError):
            dropped = True
        finally:
            phase.slow_open -= 1
            phase.slow_dropped += dropped
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def idle_upload(port: int, token: str, phase: Phase, stop: asyncio.Event) -> None:
    """Announce a 600 MiB metrics upload, send 12 bytes of it, then idle until stopped (or
    until the server answers or drops the connection)."""
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
    except OSError:
        return
    head = (
        "POST /api/encryption/metrics HTTP/1.1\r\nHost: soak\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {ANNOUNCED_UPLOAD}\r\n\r\n"
    ).encode()
    writer.write(head + b'{"metrics":[')
    await writer.drain()
    phase.idle_open += 1
    try:
        answer = asyncio.ensure_future(reader.read(64))
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait([answer, stopping], return_when=asyncio.FIRST_COMPLETED)
        if answer.done():
            line = answer.result().split(b"\r\n", 1)[0].decode(errors="replace")
            key = line.split(" ")[1] if line.count(" ") >= 1 else "dropped"
            phase.idle_answered[key] = phase.idle_answered.get(key, 0) + 1
            phase.idle_open -= 1
            return
        answer.cancel()
        stopping.cancel()
        phase.idle_open -= 1
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def flooder(base_url: str, phase: Phase, stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:
        while not stop.is_set():
            body = {
                "email": f"flood-{secrets.token_hex(6)}@example.com",
                "password": "flood pass 1",
            }
            started = time.perf_counter()
            try:
                status = str((await client.post("/api/auth/register", json=body)).status_code)
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            phase.registrations.add(status, time.perf_counter() - started, status == "201")


async def run_phase(
    phase: Phase, args: argparse.Namespace, env: Any, user: tuple[str, str], token: str
) -> None:
    stop = asyncio.Event()
    port = env.server.port
    tasks = [
        asyncio.create_task(normal_client(env.base_url, *user, phase, stop, args.pause)),
    ]
    if phase.name == "flood":
        tasks += [
            asyncio.create_task(flooder(env.base_url, phase, stop)) for _ in range(args.flooders)
        ]
    if phase.name == "hostile":
        tasks += [
            asyncio.create_task(slow_header_connection(port, phase, stop))
            for _ in range(args.slow_headers)
        ]
        tasks += [
            asyncio.create_task(idle_upload(port, token, phase, stop))
            for _ in range(args.idle_uploads)
        ]
        tasks += [
            asyncio.create_task(flooder(env.base_url, phase, stop)) for _ in range(args.flooders)
        ]
    await asyncio.sleep(args.duration)
    phase.rss_mib = server_rss_mib(env.server._process.pid)
    phase_open = (phase.slow_open, phase.idle_open)
    stop.set()
    await asyncio.wait(tasks, timeout=30)
    phase.slow_open, phase.idle_open = phase_open


def report(phases: list[Phase], args: argparse.Namespace) -> str:
    lines = [
        f"workers {args.workers}, {args.duration:.0f} s per phase; hostile: "
        f"{args.slow_headers} slow-header connections, {args.idle_uploads} idle 600 MiB "
        f"uploads, {args.flooders} registration flooders",
        "",
        "| | " + " | ".join(p.name for p in phases) + " |",
        "|---|" + "---|" * len(phases),
    ]

    def row(label: str, cells: list[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row("normal sign-ins ok / total", [f"{p.sign_ins.ok} / {p.sign_ins.total}" for p in phases])
    row("sign-in p50 / p95 / max (ms)", [p.sign_ins.latency() for p in phases])
    row("normal pushes ok / total", [f"{p.pushes.ok} / {p.pushes.total}" for p in phases])
    row("push p50 / p95 / max (ms)", [p.pushes.latency() for p in phases])
    row(
        "normal client other answers",
        [
            ", ".join(
                f"{k}: {v}"
                for k, v in sorted({**p.sign_ins.statuses, **p.pushes.statuses}.items())
                if k not in ("200", "201")
            )
            or "none"
            for p in phases
        ],
    )
    row(
        "registrations attempted (answers)",
        [
            f"{p.registrations.total} ("
            + ", ".join(f"{k}: {v}" for k, v in sorted(p.registrations.statuses.items()))
            + ")"
            if p.registrations.total
            else "-"
            for p in phases
        ],
    )
    row("slow-header connections held at the end", [str(p.slow_open) for p in phases])
    row("slow-header connections dropped by the server", [str(p.slow_dropped) for p in phases])
    row(
        "idle uploads held at the end (answered)",
        [
            f"{p.idle_open} ({', '.join(f'{k}: {v}' for k, v in p.idle_answered.items()) or '-'})"
            for p in phases
        ],
    )
    row("server RSS at the end (MiB)", [f"{p.rss_mib:.0f}" for p in phases])
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> int:
    vectors = json.loads(VECTORS.read_text())
    try:
        async with serving(args.workers, pg_url=args.pg_url) as env:
            async with httpx.AsyncClient(base_url=env.base_url, timeout=60.0) as client:
                user = ("normal@example.com", "normal client password")
                await setup_user(client, *user, vectors["public_key"])
                uploader = await setup_user(
                    client, "uploader@example.com", "uploader password", vectors["public_key"]
                )
            phases = [Phase(name) for name in args.phases.split(",")]
            for phase in phases:
                await run_phase(phase, args, env, user, uploader)
        print(report(phases, args))
    finally:
        cleanup()
    return 0 if all(p.sign_ins.ok and p.pushes.ok for p in phases) else 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--pause", type=float, default=0.2)
    parser.add_argument("--slow-headers", type=int, default=200)
    parser.add_argument("--idle-uploads", type=int, default=4)
    parser.add_argument("--flooders", type=int, default=8)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument(
        "--phases",
        default="quiet,flood,hostile",
        help="comma-separated, in order: quiet (the normal client alone), flood "
        "(+ the registration flood only), hostile (+ everything)",
    )
    return parser.parse_args()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse_args())))
