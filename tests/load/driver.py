"""The simulated web clients: users with two devices each, doing what the Reflective web client
does (form login once, pull the change feed and the backups listing, push entries one per
request, resolve conflicts, upload metric batches, aggregate), while a ledger of every answer
is kept for the verification in ``tests.load.verify``.

A device runs one operation at a time (as the client does); devices run concurrently.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from tests.load.model import (
    Check,
    ConflictRecord,
    Device,
    Problem,
    UserSim,
    Version,
    Write,
)
from tests.load.stats import Recorder

UTC = timezone.utc
DEFAULT_VECTORS = Path(__file__).resolve().parents[1] / "data/he_ckks_node_seal_6.json"

REGISTER = "POST /api/auth/register"
LOGIN = "POST /api/auth/token"
PRIVACY = "PUT /api/users/me/privacy"
CHANGES = "GET /api/sync/changes"
BACKUPS = "GET /api/sync/backups"
PUSH = "POST /api/sync/backup"
CONFLICTS = "GET /api/sync/conflicts"
RESOLVE = "POST /api/sync/conflicts/{id}/resolve"
METRICS = "POST /api/encryption/metrics"
AGGREGATE = "POST /api/encryption/aggregate"

PAGE = 100  # the web client's page size
VERIFY_PAGE = 500
MAX_PULL_PAGES = 20  # per pull operation during the run
MAX_VERIFY_PAGES = 10_000

# Operation mix (relative weights) of one device.
DEFAULT_MIX: dict[str, int] = {
    "pull": 25,
    "list_backups": 5,
    "create": 12,
    "edit": 38,
    "metrics": 8,
    "aggregate": 12,
}
RESOLUTION_WEIGHTS = {"local": 4, "remote": 3, "merged": 3}

ProbeHook = Callable[[UserSim, Device, str], Awaitable[None]]


class SetupFailed(RuntimeError):
    """The simulated users could not be registered, signed in or upgraded."""


@dataclass(frozen=True)
class Workload:
    devices: int = 40  # two per user
    seed: int = 1
    entry_bytes: int = 1024
    metrics_batch: int = 2
    hot_entries: int = 2
    hot_rate: float = 0.6  # share of edits going to the entries both devices edit
    resolve_rate: float = 0.5  # share of 409s resolved at once (the rest wait for a pull)
    retry_rate: float = 0.05  # share of uploads sent twice (the client's retry)
    think_seconds: float = 0.0  # mean pause between a device's operations
    request_timeout: float = 30.0
    max_ops_per_device: int = 100_000
    mix: tuple[tuple[str, int], ...] = tuple(DEFAULT_MIX.items())
    vectors: Path = DEFAULT_VECTORS

    def __post_init__(self) -> None:
        if self.devices < 2 or self.devices % 2:
            raise ValueError("--devices must be an even number >= 2 (two devices per user)")
        unknown = {name for name, _ in self.mix} - set(DEFAULT_MIX)
        if unknown:
            raise ValueError(f"unknown operations in the mix: {sorted(unknown)}")
        if sum(weight for _, weight in self.mix) <= 0:
            raise ValueError("the operation mix needs a positive weight")

    @property
    def users(self) -> int:
        return self.devices // 2


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class MetricBodies:
    """Metric upload bodies, encoded once: the vectors' ciphertexts (~0.45 MB of base64 each)
    reused in batches of ``batch``.

    A real client encrypts afresh for every measurement; reusing bytes stands in for that. The
    reused batches carry no ``log_id``, since the server rightly takes the same (log_id, type,
    ciphertext) sent again for a resend and stores it once. The upgrade body, sent once per
    user, carries the web client's ``log_id`` field."""

    def __init__(self, vectors: dict[str, Any], batch: int) -> None:
        items = vectors["metrics"]
        self.types = sorted({m["metric_type"] for m in items})
        self.variants = [
            self._encode([items[(start + i) % len(items)] for i in range(batch)], log_ids=False)
            for start in range(len(items))
        ]
        # The upgrade: every entry's metrics in one request.
        self.upgrade = self._encode(items, log_ids=True)

    @staticmethod
    def _encode(chosen: list[dict[str, Any]], log_ids: bool) -> tuple[bytes, Counter[str]]:
        body = {
            "metrics": [
                {
                    "metric_type": m["metric_type"],
                    "encrypted_value": m["encrypted_value"],
                    "timestamp": m["timestamp"],
                    **({"log_id": str(uuid.uuid4())} if log_ids else {}),
                }
                for m in chosen
            ]
        }
        return json.dumps(body).encode(), Counter(m["metric_type"] for m in chosen)


class LoadRun:
    """One load run against ``base_url``: ``setup()``, ``steady(seconds)``, ``probe()``, then
    ``verify(run)`` (``tests.load.verify``). Use as ``async with LoadRun(...) as run``."""

    def __init__(
        self,
        base_url: str,
        workload: Workload,
        recorder: Recorder,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url, self.workload = base_url, workload
        self.recorder = recorder
        self._transport = transport
        self.phase = "setup"
        self.problems: list[Problem] = []
        self.checked: Counter[Check] = Counter()
        self.activity: Counter[str] = Counter()
        self.phase_seconds: dict[str, float] = {}
        self.tag = uuid.uuid4().hex[:8]
        vectors = json.loads(workload.vectors.read_text())
        self.he_public_key: str = vectors["public_key"]
        self.metric_bodies = MetricBodies(vectors, workload.metrics_batch)
        self._mix_names = [name for name, _ in workload.mix]
        self._mix_weights = [weight for _, weight in workload.mix]
        self.users: list[UserSim] = []
        self._clients: list[httpx.AsyncClient] = []

    # --- lifecycle -----------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        # One client (connection pool) per device, as each device is its own browser.
        kwargs: dict[str, Any] = {
            "base_url": self.base_url,
            "timeout": self.workload.request_timeout,
            "limits": httpx.Limits(max_connections=4, max_keepalive_connections=2),
        }
        if self._transport is not None:
            kwargs["transport"] = self._transport
        client = httpx.AsyncClient(**kwargs)
        self._clients.append(client)
        return client

    async def __aenter__(self) -> LoadRun:
        for index in range(self.workload.users):
            user = UserSim(
                index=index,
                email=f"load-{self.tag}-{index}@example.com",
                password=f"load password {self.tag} {index}",
            )
            for name in ("laptop", "phone"):
                device_name = f"{name}-{self.tag}-{index}"
                rng = random.Random(f"{self.workload.seed}:{index}:{name}")
                user.devices.append(Device(device_name, user, self._client(), rng))
            self.users.append(user)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.gather(*(client.aclose() for client in self._clients))

    @property
    def devices(self) -> list[Device]:
        return [device for user in self.users for device in user.devices]

    def problem(self, check: Check, user: UserSim, detail: str) -> None:
        self.problems.append(Problem(check, user.index, detail))

    # --- HTTP ----------------------------------------------------------------------------

    async def call(
        self,
        client: httpx.AsyncClient,
        endpoint: str,
        method: str,
        path: str,
        expected: Sequence[int],
        **kwargs: Any,
    ) -> httpx.Response | None:
        """One request, timed and recorded; None when no answer came (recorded as an error)."""
        started = time.perf_counter()
        try:
            response = await client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.recorder.add(
                self.phase,
                endpoint,
                f"exc:{type(exc).__name__}",
                time.perf_counter() - started,
                expected=False,
                example=f"{method} {path}: {type(exc).__name__}: {exc}",
            )
            return None
        elapsed = time.perf_counter() - started
        ok = response.status_code in expected
        example = None
        if not ok:
            query = f"?{response.request.url.query.decode()}" if response.request.url.query else ""
            example = f"{method} {path}{query} -> {response.status_code} {response.text[:300]}"
        self.recorder.add(self.phase, endpoint, str(response.status_code), elapsed, ok, example)
        return response

    # --- setup ---------------------------------------------------------------------------

    async def setup(self) -> None:
        """Register every user, sign in each device once (argon2 is slow on purpose), move
        the user to full_sync with the vectors' HE public key, create the shared entries."""
        self.phase = "setup"
        started = time.monotonic()
        await asyncio.gather(*(self._setup_user(user) for user in self.users))
        self.phase_seconds["setup"] = time.monotonic() - started

    async def _setup_user(self, user: UserSim) -> None:
        first = user.devices[0]
        registered = await self.call(
            first.client,
            REGISTER,
            "POST",
            "/api/auth/register",
            [201],
            json={"email": user.email, "password": user.password, "display_name": "Load"},
        )
        if registered is None or registered.status_code != 201:
            raise SetupFailed(f"register user {user.index}: {_describe(registered)}")
        user.id = registered.json()["id"]
        await asyncio.gather(*(self._login(device) for device in user.devices))
        upgraded = await self.call(
            first.client,
            PRIVACY,
            "PUT",
            "/api/users/me/privacy",
            [200],
            headers=first.headers,
            json={
                "privacy_tier": "full_sync",
                "consent_timestamp": iso(datetime.now(UTC)),
                "he_public_key": self.he_public_key,
            },
        )
        if upgraded is None or upgraded.status_code != 200:
            raise SetupFailed(f"full_sync for user {user.index}: {_describe(upgraded)}")
        if not await self.upload_metrics(first, self.metric_bodies.upgrade):
            raise SetupFailed(f"upgrade metrics upload for user {user.index} failed")
        for _ in range(self.workload.hot_entries):
            entry_id = str(uuid.uuid4())
            if await self.push(first, entry_id, allow_retry=False) == "accepted":
                user.hot.append(entry_id)

    async def _login(self, device: Device) -> None:
        user = device.user
        response = await self.call(
            device.client,
            LOGIN,
            "POST",
            "/api/auth/token",
            [200],
            data={"username": user.email, "password": user.password},
        )
        if response is None or response.status_code != 200:
            raise SetupFailed(f"login {device.name}: {_describe(response)}")
        device.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}

    # --- the run -------------------------------------------------------------------------

    async def steady(self, seconds: float) -> None:
        """Every device runs its operation mix until ``seconds`` have passed (an operation
        under way finishes; requests time out after ``request_timeout``)."""
        self.phase = "steady"
        started = time.monotonic()
        deadline = started + seconds
        await asyncio.gather(*(self._device_loop(device, deadline) for device in self.devices))
        self.phase_seconds["steady"] = time.monotonic() - started

    async def _device_loop(self, device: Device, deadline: float) -> None:
        rng = device.rng
        operations: dict[str, Callable[[Device, random.Random], Awaitable[Any]]] = {
            "pull": self._op_pull,
            "list_backups": self._op_list_backups,
            "create": self._op_create,
            "edit": self._op_edit,
            "metrics": self._op_metrics,
            "aggregate": self._op_aggregate,
        }
        while time.monotonic() < deadline and device.ops < self.workload.max_ops_per_device:
            device.ops += 1
            name = rng.choices(self._mix_names, self._mix_weights)[0]
            self.activity[f"op:{name}"] += 1
            await operations[name](device, rng)
            if self.workload.think_seconds > 0:
                pause = rng.expovariate(1 / self.workload.think_seconds)
                await asyncio.sleep(min(pause, max(0.0, deadline - time.monotonic())))

    async def _op_pull(self, device: Device, rng: random.Random | None = None) -> bool:
        return await self.pull(device, MAX_PULL_PAGES, PAGE)

    async def pull(self, device: Device, max_pages: int, limit: int) -> bool:
        """Follow the change feed from the device's cursor; True when it reached the end."""
        for _ in range(max_pages):
            params: dict[str, Any] = {"device_id": device.name, "limit": limit}
            if device.cursor is not None:
                params["cursor"] = device.cursor
            response = await self.call(
                device.client,
                CHANGES,
                "GET",
                "/api/sync/changes",
                [200],
                params=params,
                headers=device.headers,
            )
            if response is None or response.status_code != 200:
                return False
            page = response.json()
            for change in page["changes"]:
                entry_id, revision = change["id"], change["revision"]
                device.known[entry_id] = max(device.known.get(entry_id, 0), revision)
                device.feed_known[entry_id] = max(device.feed_known.get(entry_id, 0), revision)
            device.cursor = page["next_cursor"]
            if not page["has_more"]:
                return True
        return False

    async def _op_list_backups(self, device: Device, rng: random.Random) -> None:
        """The client's other pull: live entries since its last sync, its own writes left
        out; what is returned counts as seen by the device."""
        started = datetime.now(UTC)
        offset = 0
        for _ in range(MAX_PULL_PAGES):
            params: dict[str, Any] = {"device_id": device.name, "limit": PAGE, "offset": offset}
            if device.backups_since is not None:
                params["since"] = iso(device.backups_since)
            response = await self.call(
                device.client,
                BACKUPS,
                "GET",
                "/api/sync/backups",
                [200],
                params=params,
                headers=device.headers,
            )
            if response is None or response.status_code != 200:
                return
            page = response.json()
            for backup in page["backups"]:
                entry_id, revision = backup["id"], backup["revision"]
                device.known[entry_id] = max(device.known.get(entry_id, 0), revision)
            if not page["has_more"] or not page["backups"]:
                break
            offset += len(page["backups"])
        # Server and client share this machine's clock; a margin covers commit delays.
        device.backups_since = started - timedelta(seconds=5)

    async def _op_create(self, device: Device, rng: random.Random) -> None:
        await self.push(device, str(uuid.uuid4()), rng)

    async def _op_edit(self, device: Device, rng: random.Random) -> None:
        """Edit an entry the device has, from its local copy, without pulling first: the
        shared entries most of the time, so both devices edit the same entries."""
        if not device.known:
            await self._op_create(device, rng)
            return
        hot = [e for e in device.user.hot if e in device.known]
        if hot and rng.random() < self.workload.hot_rate:
            entry_id = rng.choice(hot)
        else:
            entry_id = rng.choice(sorted(device.known))
        await self.push(device, entry_id, rng)

    def _new_version(self, device: Device, rng: random.Random, kind: str = "upload") -> Version:
        return Version(
            content=b64(rng.randbytes(self.workload.entry_bytes)),
            iv=b64(rng.randbytes(12)),
            device=device.name,
            kind=kind,
        )

    async def push(
        self,
        device: Device,
        entry_id: str,
        rng: random.Random | None = None,
        *,
        allow_retry: bool = True,
        allow_resolve: bool = True,
    ) -> str:
        """Upload a new version of ``entry_id`` as the web client does (no ``base_revision``:
        the server decides from what it delivered to this device). Returns "accepted",
        "conflict" or "error"."""
        rng = rng or device.rng
        user = device.user
        base = device.known.get(entry_id, 0)
        version = self._new_version(device, rng)
        now = iso(datetime.now(UTC))
        body = {
            "id": entry_id,
            "encrypted_content": version.content,
            "content_iv": version.iv,
            "content_tag": b64(rng.randbytes(16)),
            "created_at": "2026-11-01T08:00:00Z",
            "updated_at": now,
            "device_id": device.name,
        }
        response = await self._push_request(device, body)
        if response is None or response.status_code not in (201, 409):
            if response is None or response.status_code >= 500:
                user.uncertain_entries.add(entry_id)
            return "error"
        if response.status_code == 201:
            self._accepted(device, entry_id, base, response.json()["revision"], version)
            outcome = "accepted"
        else:
            self._conflicted(device, entry_id, response.json()["detail"], version)
            outcome = "conflict"
        if allow_retry and rng.random() < self.workload.retry_rate:
            await self._retry(device, entry_id, body, response)
        if outcome == "conflict" and allow_resolve and rng.random() < self.workload.resolve_rate:
            await self._resolve(device, entry_id, rng)
        return outcome

    async def _push_request(self, device: Device, body: dict[str, Any]) -> httpx.Response | None:
        return await self.call(
            device.client,
            PUSH,
            "POST",
            "/api/sync/backup",
            [201, 409],
            json=body,
            headers=device.headers,
        )

    def _accepted(
        self, device: Device, entry_id: str, base: int, revision: int, version: Version
    ) -> None:
        """A 201: the server says this version is now ``revision``. Holding the device's own
        view (``base``, the newest revision it had received or written) against it is the
        missed-conflict check: anything but ``base + 1`` overwrote versions it never saw."""
        user = device.user
        self.activity["accepted uploads"] += 1
        if base:
            self.activity["accepted edits of existing entries"] += 1
        self.checked[Check.MISSED] += 1
        if revision != base + 1:
            if revision > base + 1:
                skipped = user.ledger(entry_id).revisions
                writers = ", ".join(
                    f"r{r} by {skipped[r].device}" if r in skipped else f"r{r} (unknown)"
                    for r in range(base + 1, revision)
                )
                detail = (
                    f"{device.name} edited entry {entry_id} from revision {base} and got 201 "
                    f"as revision {revision}, overwriting {writers} it never received"
                )
            else:
                detail = (
                    f"{device.name} edited entry {entry_id} from revision {base} and got 201 "
                    f"as revision {revision}: the revision did not advance"
                )
            self.problem(Check.MISSED, user, detail)
        self._record_write(user, entry_id, revision, version)
        device.known[entry_id] = max(device.known.get(entry_id, 0), revision)
        conflict_id = device.open_conflicts.pop(entry_id, None)
        if conflict_id is not None:
            # The server closes a device's own conflict when that device writes a version
            # it accepts (it has seen the current one by then).
            user.conflicts[conflict_id].superseded_revision = revision
            self.activity["conflicts superseded by their device's later write"] += 1

    def _record_write(self, user: UserSim, entry_id: str, revision: int, version: Version) -> None:
        ledger = user.ledger(entry_id)
        previous = ledger.revisions.get(revision)
        if previous is not None and previous != version:
            self.problem(
                Check.LOST,
                user,
                f"entry {entry_id}: revision {revision} was accepted twice, from "
                f"{previous.device} ({previous.kind}) and {version.device} ({version.kind})",
            )
        ledger.revisions[revision] = version
        ledger.writes.append(Write(revision, version))

    def _conflicted(
        self, device: Device, entry_id: str, detail: Any, version: Version
    ) -> str | None:
        user = device.user
        self.activity["409 answers"] += 1
        if not isinstance(detail, dict) or not {"conflict_id", "log_id", "message"} <= set(detail):
            self.problem(Check.CONFLICTS, user, f"409 detail is not a conflict: {detail!r}")
            return None
        conflict_id, log_id = str(detail["conflict_id"]), str(detail["log_id"])
        if log_id != entry_id:
            self.problem(Check.CONFLICTS, user, f"409 for entry {entry_id} names log_id {log_id}")
        record = user.conflicts.get(conflict_id)
        if record is None:
            record = ConflictRecord(conflict_id, entry_id, device.name, version)
            user.conflicts[conflict_id] = record
            self.activity["conflicts created"] += 1
        else:
            if record.resolved is not None:
                self.problem(
                    Check.CONFLICTS,
                    user,
                    f"409 names conflict {conflict_id}, which we resolved ({record.resolved})",
                )
            if record.superseded_revision is not None:
                self.problem(
                    Check.CONFLICTS,
                    user,
                    f"409 names conflict {conflict_id}, which {record.owner}'s accepted "
                    f"revision {record.superseded_revision} should have closed",
                )
            if record.owner == device.name:
                record.local = version  # a newer stale upload replaces the kept one
        record.receivers.add(device.name)
        if record.owner == device.name:
            previous = device.open_conflicts.get(entry_id)
            if previous is not None and previous != conflict_id:
                self.problem(
                    Check.CONFLICTS,
                    user,
                    f"entry {entry_id}: new conflict {conflict_id} while {previous} is open",
                )
            device.open_conflicts[entry_id] = conflict_id
        else:
            self.activity["409 naming another device's conflict"] += 1
        return conflict_id

    async def _retry(
        self, device: Device, entry_id: str, body: dict[str, Any], first: httpx.Response
    ) -> None:
        """The client retries an upload whose answer it did not get: the same answer again,
        and no new revision."""
        self.activity["retried uploads"] += 1
        again = await self._push_request(device, body)
        if again is None:
            return
        self.checked[Check.RETRY] += 1
        user = device.user
        if again.status_code != first.status_code:
            self.problem(
                Check.RETRY,
                user,
                f"entry {entry_id}: first answer {first.status_code}, retry "
                f"{again.status_code} {again.text[:200]}",
            )
        elif first.status_code == 201:
            if again.json()["revision"] < first.json()["revision"]:
                self.problem(
                    Check.RETRY,
                    user,
                    f"entry {entry_id}: retry answered revision {again.json()['revision']} "
                    f"after {first.json()['revision']}",
                )
        elif again.json()["detail"].get("conflict_id") != first.json()["detail"]["conflict_id"]:
            self.problem(
                Check.RETRY,
                user,
                f"entry {entry_id}: retry answered another conflict: {again.text[:200]}",
            )

    async def _resolve(self, device: Device, entry_id: str, rng: random.Random) -> None:
        """The client's conflict flow: list conflicts, pick its entry's, choose a side."""
        conflict_id = device.open_conflicts.get(entry_id)
        if conflict_id is None:
            return
        user = device.user
        record = user.conflicts[conflict_id]
        listing = await self.call(
            device.client, CONFLICTS, "GET", "/api/sync/conflicts", [200], headers=device.headers
        )
        if listing is None or listing.status_code != 200:
            return
        self.checked[Check.CONFLICTS] += 1
        item = next((c for c in listing.json()["conflicts"] if c["log_id"] == entry_id), None)
        if item is None:
            self.problem(
                Check.CONFLICTS,
                user,
                f"conflict {conflict_id} (entry {entry_id}) from a 409 is not listed",
            )
            return
        if item["id"] != conflict_id:
            self.problem(
                Check.CONFLICTS,
                user,
                f"entry {entry_id}: 409 named conflict {conflict_id}, listed {item['id']}",
            )
            return
        if item["local_version"]["encrypted_content"] != record.local.content:
            self.problem(
                Check.CONFLICTS,
                user,
                f"conflict {conflict_id}: the listed local version is not "
                f"{record.owner}'s last conflicting upload",
            )
        listed_revision = item.get("remote_revision")
        remote = item.get("remote_version") or {}
        known = user.ledger(entry_id).revisions.get(listed_revision or 0)
        if known is not None and remote.get("encrypted_content") != known.content:
            self.problem(
                Check.CONFLICTS,
                user,
                f"conflict {conflict_id}: listed remote side is not revision {listed_revision}",
            )
        choice = rng.choices(list(RESOLUTION_WEIGHTS), list(RESOLUTION_WEIGHTS.values()))[0]
        payload: dict[str, Any] = {"chosen_version": choice, "device_id": device.name}
        if isinstance(listed_revision, int) and rng.random() < 0.5:
            payload["remote_revision"] = listed_revision  # as a careful client does
        merged: Version | None = None
        if choice == "merged":
            merged = self._new_version(device, rng, kind="merged")
            payload["final_encrypted_content"] = merged.content
            payload["final_iv"] = merged.iv
        response = await self.call(
            device.client,
            RESOLVE,
            "POST",
            f"/api/sync/conflicts/{conflict_id}/resolve",
            [200, 409],
            json=payload,
            headers=device.headers,
        )
        if response is not None and response.status_code == 409:
            # The entry moved on since the listing: the server refuses to overwrite a version
            # nobody was shown. The conflict stays open for a later look.
            self.activity["resolutions refused: entry changed since listed"] += 1
            return
        if response is None or response.status_code != 200:
            return
        revision = response.json()["details"]["revision"]
        record.resolved, record.resolved_revision = choice, revision
        device.open_conflicts.pop(entry_id, None)
        self.activity[f"conflicts resolved: {choice}"] += 1
        if choice == "remote":
            # The client now takes the remote version: it pulls it.
            await self.pull(device, MAX_PULL_PAGES, PAGE)
            return
        version = merged or Version(record.local.content, record.local.iv, device.name, "local")
        self.checked[Check.STALE_RESOLUTION] += 1
        if isinstance(listed_revision, int) and revision != listed_revision + 1:
            self.problem(
                Check.STALE_RESOLUTION,
                user,
                f"conflict {conflict_id} (entry {entry_id}) was listed against revision "
                f"{listed_revision}; resolving it ({choice}) made revision {revision}, "
                f"discarding revision(s) {listed_revision + 1}..{revision - 1} unseen",
            )
        self.activity["accepted resolutions"] += 1
        self._record_write(user, entry_id, revision, version)
        device.known[entry_id] = max(device.known.get(entry_id, 0), revision)

    async def _op_metrics(self, device: Device, rng: random.Random) -> None:
        await self.upload_metrics(device, rng.choice(self.metric_bodies.variants))

    async def upload_metrics(self, device: Device, batch: tuple[bytes, Counter[str]]) -> bool:
        """One metrics request (pre-encoded body); True when it was accepted."""
        user = device.user
        body, counts = batch
        user.metrics_sent.update(counts)
        response = await self.call(
            device.client,
            METRICS,
            "POST",
            "/api/encryption/metrics",
            [201],
            content=body,
            headers={**device.headers, "Content-Type": "application/json"},
        )
        if response is None or response.status_code >= 500:
            user.metrics_uncertain.update(counts)
            return False
        if response.status_code != 201:
            return False  # rejected as a whole: nothing stored
        stored = response.json().get("details", {}).get("count")
        if stored != sum(counts.values()):
            self.problem(
                Check.METRICS, user, f"batch of {sum(counts.values())} answered count {stored}"
            )
        user.metrics_confirmed.update(counts)
        self.activity["metric batches accepted"] += 1
        self.activity["metrics accepted"] += sum(counts.values())
        return True

    async def _op_aggregate(self, device: Device, rng: random.Random) -> None:
        user = device.user
        metric_type = rng.choice(self.metric_bodies.types)
        operation = rng.choice(["sum", "average"])
        confirmed = user.metrics_confirmed[metric_type]
        response = await self.call(
            device.client,
            AGGREGATE,
            "POST",
            "/api/encryption/aggregate",
            [200, 404],
            json={"metric_type": metric_type, "operation": operation},
            headers=device.headers,
        )
        if response is None or response.status_code not in (200, 404):
            return
        sent = user.metrics_sent[metric_type]
        self.checked[Check.AGGREGATE_BOUNDS] += 1
        if response.status_code == 404:
            if confirmed:
                self.problem(
                    Check.AGGREGATE_BOUNDS,
                    user,
                    f"{metric_type}: 404 after {confirmed} metrics were accepted",
                )
            return
        answer = response.json()
        count = answer.get("count")
        if not isinstance(count, int) or not confirmed <= count <= sent:
            self.problem(
                Check.AGGREGATE_BOUNDS,
                user,
                f"{metric_type} {operation}: count {count} outside [{confirmed}, {sent}]",
            )
        if answer.get("metric_type") != metric_type or answer.get("operation") != operation:
            self.problem(Check.AGGREGATE_BOUNDS, user, f"aggregate answered {answer!r:.200}")

    # --- the probe -----------------------------------------------------------------------

    async def probe(self, hook: ProbeHook | None = None) -> None:
        """Per user, a conflict made on purpose after the run: the laptop writes revision 1,
        the phone pulls it, the laptop writes revision 2, the phone (not having pulled)
        edits: that must be a 409. The conflict is left open for the verification."""
        self.phase = "probe"
        started = time.monotonic()
        await asyncio.gather(*(self._probe_user(user, hook) for user in self.users))
        self.phase_seconds["probe"] = time.monotonic() - started

    async def _probe_user(self, user: UserSim, hook: ProbeHook | None) -> None:
        laptop, phone = user.devices
        entry_id = str(uuid.uuid4())
        steps = [
            await self.push(laptop, entry_id, allow_retry=False, allow_resolve=False),
            "accepted" if await self.pull(phone, MAX_VERIFY_PAGES, VERIFY_PAGE) else "error",
            await self.push(laptop, entry_id, allow_retry=False, allow_resolve=False),
        ]
        self.checked[Check.PROBE] += 1
        if steps != ["accepted"] * 3 or phone.known.get(entry_id) != 1:
            self.problem(Check.PROBE, user, f"probe setup failed: {steps}")
            return
        if hook is not None:
            await hook(user, phone, entry_id)
        outcome = await self.push(phone, entry_id, allow_retry=False, allow_resolve=False)
        self.activity["probe conflicts"] += outcome == "conflict"
        if outcome != "conflict":
            self.problem(
                Check.PROBE,
                user,
                f"{phone.name} edited revision 1 of {entry_id} after {laptop.name} wrote "
                f"revision 2: answered {outcome}, expected a 409",
            )


def _describe(response: httpx.Response | None) -> str:
    if response is None:
        return "no answer"
    return f"{response.status_code} {response.text[:300]}"
