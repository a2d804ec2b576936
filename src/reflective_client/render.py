"""Terminal output: tables, the weekly chart, progress bars (rich)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from reflective_client.device import ConflictView, HistoryView, JournalEntry
from reflective_client.stats import Stats
from reflective_client.uploads import Progress as ProgressCallback
from reflective_protocol.live import SessionView

BLOCKS = " ▏▎▍▌▋▊▉█"


def short(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M")


def preview(text: str | None, width: int = 60) -> str:
    if text is None:
        return "[red]<does not decrypt with this profile's key>[/red]"
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def mood(score: float | None) -> str:
    if score is None:
        return "-"
    face = "🙂" if score >= 0.05 else "🙁" if score <= -0.05 else "😐"
    return f"{face} {score:+.2f}"


def entries_table(entries: list[JournalEntry], full: bool = False) -> Table:
    table = Table(title=f"{len(entries)} entries (newest first)", show_lines=full)
    table.add_column("id", style="cyan", no_wrap=True)
    table.add_column("written", no_wrap=True)
    table.add_column("words", justify="right")
    table.add_column("mood", no_wrap=True)
    table.add_column("sync", no_wrap=True)
    table.add_column("text")
    for e in entries:
        text = (e.text or "") if full and e.text is not None else preview(e.text)
        words = "-" if e.word_count is None else str(e.word_count)
        table.add_row(e.id[:8], short(e.created_at), words, mood(e.sentiment), e.state, text)
    return table


def history_table(entry_id: str, history: list[HistoryView], full: bool = False) -> Table:
    table = Table(title=f"{len(history)} kept versions of {entry_id[:8]} (newest first)")
    table.add_column("revision", justify="right", no_wrap=True)
    table.add_column("replaced", no_wrap=True)
    table.add_column("written on", no_wrap=True)
    table.add_column("text")
    for v in history:
        text = "(does not open with these keys)" if v.text is None else v.text.strip()
        table.add_row(
            str(v.revision), short(v.replaced_at), v.device_id, text if full else preview(text)
        )
    return table


def sessions_table(sessions: list[SessionView]) -> Table:
    table = Table(title=f"{len(sessions)} sessions (newest first)")
    table.add_column("id", style="cyan", no_wrap=True)
    table.add_column("device")
    table.add_column("signed in", no_wrap=True)
    table.add_column("last used", no_wrap=True)
    table.add_column("", no_wrap=True)
    for s in sessions:
        table.add_row(
            str(s.id)[:8],
            s.device_name or "-",
            short(s.created_at),
            short(s.last_used_at),
            "this one" if s.current else "",
        )
    return table


def conflict_table(conflict: ConflictView) -> Table:
    table = Table(title=f"conflict {conflict.id} (entry {conflict.log_id[:8]})", expand=True)
    table.add_column(f"local: the upload that conflicted ({conflict.local_device})", ratio=1)
    table.add_column(
        f"remote: the current version ({conflict.remote_device or 'deleted'})", ratio=1
    )
    table.add_row(
        conflict.local_text or "<does not decrypt>",
        "<entry deleted>" if conflict.remote_device is None else conflict.remote_text or "-",
    )
    table.add_row(short(conflict.local_updated_at), short(conflict.remote_updated_at))
    return table


def bar(value: float, top: float, width: int = 30) -> str:
    if top <= 0 or value <= 0:
        return ""
    eighths = round(value / top * width * 8)
    return BLOCKS[-1] * (eighths // 8) + (BLOCKS[eighths % 8] if eighths % 8 else "")


def stats_tables(stats: Stats) -> list[Table]:
    summary = Table(title="Decrypted on this device (the server only ever added ciphertexts)")
    summary.add_column("metric")
    summary.add_column("entries", justify="right")
    summary.add_column("total", justify="right")
    summary.add_column("average", justify="right")
    for s in (stats.words, stats.sentiment):
        if s is not None:
            summary.add_row(s.metric_type, str(s.count), f"{s.total:,.2f}", f"{s.average:,.3f}")
    if stats.words is None and stats.sentiment is None:
        summary.add_row("(no metrics uploaded yet)", "", "", "")
    weeks = Table(title="Words per week")
    weeks.add_column("week of", no_wrap=True)
    weeks.add_column("entries", justify="right")
    weeks.add_column("words", justify="right")
    weeks.add_column("", min_width=30)
    weeks.add_column("mood", no_wrap=True)
    top = max((w.words for w in stats.weeks), default=0.0)
    for w in stats.weeks:
        weeks.add_row(
            w.start.isoformat(),
            str(w.entries),
            f"{round(w.words):,}",
            f"[green]{bar(w.words, top)}[/green]",
            mood(w.sentiment),
        )
    return [summary, weeks]


@contextlib.contextmanager
def progress_bars(console: Console) -> Iterator[ProgressCallback]:
    """A ``progress(task, done, total)`` callback drawing one bar per task; nothing is drawn
    until a task has work to show."""
    bars: Progress | None = None
    tasks: dict[str, TaskID] = {}

    def update(task: str, done: int, total: int) -> None:
        nonlocal bars
        if total <= 0:
            return
        if bars is None:
            bars = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            )
            bars.start()
        if task not in tasks:
            tasks[task] = bars.add_task(task, total=total)
        bars.update(tasks[task], completed=done, total=total)

    try:
        yield update
    finally:
        if bars is not None:
            bars.stop()
