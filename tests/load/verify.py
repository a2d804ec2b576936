"""After the run: read every user's data back as a fresh device and hold it against the
ledger the run kept. ``verify(run)`` may be called more than once (e.g. before and after
tampering with the database); the checks made during the run are carried over."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.load.driver import (
    AGGREGATE,
    BACKUPS,
    CHANGES,
    CONFLICTS,
    MAX_VERIFY_PAGES,
    VERIFY_PAGE,
    LoadRun,
)
from tests.load.model import Check, Problem, UserSim

MAX_LISTED_PROBLEMS = 25


@dataclass
class Snapshot:
    """One user's data as a device that never synced sees it."""

    feed: dict[str, dict[str, Any]] = field(default_factory=dict)  # entry id -> latest change
    feed_complete: bool = False
    backups: dict[str, dict[str, Any]] = field(default_factory=dict)
    backups_total: int | None = None
    open_conflicts: dict[str, dict[str, Any]] | None = None
    aggregates: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    incremental_complete: dict[str, bool] = field(default_factory=dict)


@dataclass
class Verification:
    checked: Counter[Check]
    problems: list[Problem]
    request_errors: int

    @property
    def failures(self) -> list[Problem]:
        return [p for p in self.problems if not p.check.warning_only]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.check.warning_only]

    @property
    def ok(self) -> bool:
        return not self.failures and self.request_errors == 0

    def count(self, check: Check) -> int:
        return sum(1 for p in self.problems if p.check is check)

    def table(self) -> str:
        lines = ["| check | checked | problems |", "|---|---:|---:|"]
        for check in Check:
            found = self.count(check)
            mark = f"{found} (warning)" if found and check.warning_only else str(found)
            lines.append(f"| {check.value} | {self.checked[check]} | {mark} |")
        errors = self.request_errors
        lines.append(f"| answers with an unexpected status (all phases) | - | {errors} |")
        return "\n".join(lines)

    def listing(self, limit: int = MAX_LISTED_PROBLEMS) -> str:
        shown = [f"- {p}" for p in self.problems[:limit]]
        if len(self.problems) > limit:
            shown.append(f"- … and {len(self.problems) - limit} more")
        return "\n".join(shown)


async def verify(run: LoadRun) -> Verification:
    run.phase = "verify"
    snapshots = await asyncio.gather(*(collect(run, user) for user in run.users))
    checked: Counter[Check] = Counter(run.checked)
    problems: list[Problem] = list(run.problems)
    for user, snapshot in zip(run.users, snapshots, strict=True):
        check_user(user, snapshot, run.metric_bodies.types, checked, problems)
    return Verification(checked, problems, run.recorder.errors())


async def collect(run: LoadRun, user: UserSim) -> Snapshot:
    snapshot = Snapshot()
    # Each device first catches up from its own cursor (the incremental feed is checked too).
    for device in user.devices:
        snapshot.incremental_complete[device.name] = await run.pull(
            device, MAX_VERIFY_PAGES, VERIFY_PAGE
        )
    # A device that never synced, with the first device's session.
    reader = user.devices[0]
    fresh = f"verifier-{run.tag}-{user.index}"
    cursor: str | None = None
    for _ in range(MAX_VERIFY_PAGES):
        params: dict[str, Any] = {"device_id": fresh, "limit": VERIFY_PAGE}
        if cursor is not None:
            params["cursor"] = cursor
        response = await run.call(
            reader.client,
            CHANGES,
            "GET",
            "/api/sync/changes",
            [200],
            params=params,
            headers=reader.headers,
        )
        if response is None or response.status_code != 200:
            break
        page = response.json()
        for change in page["changes"]:
            snapshot.feed[change["id"]] = change
        cursor = page["next_cursor"]
        if not page["has_more"]:
            snapshot.feed_complete = True
            break
    offset = 0
    for _ in range(MAX_VERIFY_PAGES):
        response = await run.call(
            reader.client,
            BACKUPS,
            "GET",
            "/api/sync/backups",
            [200],
            params={"device_id": fresh, "limit": VERIFY_PAGE, "offset": offset},
            headers=reader.headers,
        )
        if response is None or response.status_code != 200:
            break
        page = response.json()
        snapshot.backups_total = page["total_count"]
        for backup in page["backups"]:
            snapshot.backups[backup["id"]] = backup
        offset += len(page["backups"])
        if not page["has_more"] or not page["backups"]:
            break
    listing = await run.call(
        reader.client, CONFLICTS, "GET", "/api/sync/conflicts", [200], headers=reader.headers
    )
    if listing is not None and listing.status_code == 200:
        snapshot.open_conflicts = {c["id"]: c for c in listing.json()["conflicts"]}
    for metric_type in run.metric_bodies.types:
        response = await run.call(
            reader.client,
            AGGREGATE,
            "POST",
            "/api/encryption/aggregate",
            [200, 404],
            json={"metric_type": metric_type, "operation": "sum"},
            headers=reader.headers,
        )
        if response is not None:
            count = response.json().get("count") if response.status_code == 200 else None
            snapshot.aggregates[metric_type] = (response.status_code, count)
    return snapshot


def check_user(
    user: UserSim,
    snapshot: Snapshot,
    metric_types: list[str],
    checked: Counter[Check],
    problems: list[Problem],
) -> None:
    def problem(check: Check, detail: str) -> None:
        problems.append(Problem(check, user.index, detail))

    feed = snapshot.feed
    if not snapshot.feed_complete:
        problem(Check.LOST, "could not read the whole change feed")

    # No accepted write lost: each is the current version or a later accepted one replaced it.
    for entry_id, ledger in user.entries.items():
        current = feed.get(entry_id)
        uncertain = entry_id in user.uncertain_entries
        if current is not None and not current["deleted"]:
            mine = ledger.revisions.get(current["revision"])
            if mine is None and not uncertain:
                problem(
                    Check.LOST,
                    f"entry {entry_id} is at revision {current['revision']}, which no "
                    f"accepted write of ours produced",
                )
        for write in ledger.writes:
            checked[Check.LOST] += 1
            where = f"entry {entry_id} revision {write.revision} ({write.version.device}, "
            where += f"{write.version.kind})"
            if current is None:
                problem(Check.LOST, f"{where}: the entry is gone from the change feed")
            elif current["deleted"]:
                problem(Check.LOST, f"{where}: the entry is a tombstone")
            elif current["revision"] == write.revision:
                if (
                    current["encrypted_content"] != write.version.content
                    or current["content_iv"] != write.version.iv
                ):
                    problem(Check.LOST, f"{where}: current revision holds other ciphertext")
            elif current["revision"] > write.revision:
                if current["revision"] not in ledger.revisions and not uncertain:
                    problem(
                        Check.LOST,
                        f"{where}: replaced by revision {current['revision']}, "
                        f"which is not an accepted write",
                    )
            else:
                problem(
                    Check.LOST,
                    f"{where}: the entry went back to revision {current['revision']}",
                )

    # The change feed: nothing we never wrote; every device's incremental pulls caught up.
    for entry_id in feed.keys() - user.entries.keys():
        problem(Check.FEED, f"the feed lists entry {entry_id}, which we never wrote")
    for device in user.devices:
        if not snapshot.incremental_complete.get(device.name):
            problem(Check.FEED, f"{device.name} could not pull to the end of the feed")
        for entry_id, current in feed.items():
            checked[Check.FEED] += 1
            seen = device.feed_known.get(entry_id)
            if seen != current["revision"]:
                problem(
                    Check.FEED,
                    f"{device.name}'s incremental pulls saw entry {entry_id} at revision "
                    f"{seen}, the feed from the start at {current['revision']}",
                )

    # The backups listing agrees with the feed.
    live = {e: c for e, c in feed.items() if not c["deleted"]}
    checked[Check.LISTING] += len(live)
    if snapshot.backups_total != len(live):
        problem(
            Check.LISTING, f"total_count {snapshot.backups_total}, the feed has {len(live)} live"
        )
    for entry_id in live.keys() - snapshot.backups.keys():
        problem(Check.LISTING, f"entry {entry_id} is live in the feed but not listed")
    for entry_id, backup in snapshot.backups.items():
        current = live.get(entry_id)
        if current is None:
            problem(Check.LISTING, f"entry {entry_id} is listed but not live in the feed")
        elif (backup["revision"], backup["encrypted_content"]) != (
            current["revision"],
            current["encrypted_content"],
        ):
            problem(
                Check.LISTING,
                f"entry {entry_id}: listed at revision {backup['revision']}, "
                f"feed at {current['revision']}",
            )

    # Every 409's conflict: open, or resolved by us, or superseded by its own device.
    if snapshot.open_conflicts is None:
        problem(Check.CONFLICTS, "could not list the open conflicts")
    else:
        listed = snapshot.open_conflicts
        for conflict_id, record in user.conflicts.items():
            checked[Check.CONFLICTS] += 1
            item = listed.get(conflict_id)
            if record.resolved is not None:
                if item is not None:
                    problem(
                        Check.CONFLICTS,
                        f"conflict {conflict_id} was resolved ({record.resolved}) "
                        f"but is listed open",
                    )
            elif record.superseded_revision is not None:
                if item is not None:
                    problem(
                        Check.CONFLICTS,
                        f"conflict {conflict_id} is listed open although {record.owner} "
                        f"wrote revision {record.superseded_revision} of its entry since",
                    )
            elif item is None:
                problem(
                    Check.CONFLICTS,
                    f"conflict {conflict_id} (entry {record.entry_id}, from {record.owner}) is "
                    f"neither open nor resolved by us nor superseded",
                )
            if item is None:
                continue
            if item["log_id"] != record.entry_id:
                problem(Check.CONFLICTS, f"conflict {conflict_id} lists log_id {item['log_id']}")
            if item["local_version"]["encrypted_content"] != record.local.content:
                problem(
                    Check.CONFLICTS,
                    f"conflict {conflict_id}: local side is not {record.owner}'s last upload",
                )
            current = feed.get(record.entry_id)
            if current is not None and item.get("remote_revision") != current["revision"]:
                problem(
                    Check.CONFLICTS,
                    f"conflict {conflict_id}: remote_revision {item.get('remote_revision')}, "
                    f"the entry is at {current['revision']}",
                )
        for conflict_id in listed.keys() - user.conflicts.keys():
            problem(Check.CONFLICTS, f"conflict {conflict_id} is open but no 409 named it")

    # Metric counts: the accepted batch sizes, summed, are what the server aggregates.
    for metric_type in metric_types:
        checked[Check.METRICS] += 1
        confirmed = user.metrics_confirmed[metric_type]
        unsure = user.metrics_uncertain[metric_type]
        status, count = snapshot.aggregates.get(metric_type, (0, None))
        if confirmed + unsure == 0:
            if status != 404:
                problem(Check.METRICS, f"{metric_type}: nothing accepted, answered {status}")
        elif status != 200 or count is None or not confirmed <= count <= confirmed + unsure:
            expected = str(confirmed) if not unsure else f"{confirmed}..{confirmed + unsure}"
            problem(
                Check.METRICS,
                f"{metric_type}: {expected} accepted, aggregate answered {status} count {count}",
            )
