"""Real concurrency on PostgreSQL: transactions on separate connections, run with
asyncio.gather. Each test names the database mechanism it proves, and was seen to fail with that
mechanism removed (lock, constraint, ON CONFLICT or version check)."""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reflective_adapters.postgres import SqlAlchemyUnitOfWork
from reflective_app.container import Container
from reflective_domain.accounts import User
from reflective_domain.entries import Entry, EntryVersion, Outcome
from reflective_domain.errors import (
    AlreadyExists,
    AuthenticationFailed,
    ConcurrentUpdate,
    EntryConflict,
)
from reflective_domain.tags import Tag
from reflective_domain.tiers import PrivacyTier
from reflective_domain.use_cases.sync import Pushed
from tests.composition import memory_container, new_user
from tests.entries import upload
from tests.integration.conftest import UowFactory

UTC = timezone.utc
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
T = TypeVar("T")


async def add_user(uow_factory: UowFactory, email: str = "ada@example.com") -> User:
    user = User(uuid.uuid4(), email, "hash", T0, T0)
    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.commit()
    return user


def version(device: str) -> EntryVersion:
    return EntryVersion(os.urandom(48), os.urandom(12), os.urandom(16), T0, T0, device)


async def outcomes(*calls: Awaitable[T]) -> list[T | BaseException]:
    """Run concurrently; results and exceptions in call order."""
    return await asyncio.gather(*calls, return_exceptions=True)


class Rendezvous:
    """Each of ``parties`` waits in ``meet()`` until all have arrived (asyncio.Barrier is 3.11+)."""

    def __init__(self, parties: int) -> None:
        self._left = parties
        self._all_here = asyncio.Event()

    async def meet(self) -> None:
        self._left -= 1
        if self._left == 0:
            self._all_here.set()
        await asyncio.wait_for(self._all_here.wait(), timeout=10)


# ---------------------------------------------------------------- change sequence


async def test_change_seqs_commit_in_order_and_a_polling_reader_misses_none(
    pg_uow_factory: UowFactory,
) -> None:
    """Writers allocate with UPDATE .. RETURNING, which holds the user row until commit, so they
    commit in sequence order: a reader moving its cursor as it goes never passes a number that
    is still uncommitted."""
    user = await add_user(pg_uow_factory)
    writers = 40
    writing_done = asyncio.Event()
    seen: list[int] = []
    jitter = random.Random(13)  # seeded: the same pauses on every run

    async def write() -> int:
        async with pg_uow_factory() as uow:
            seq = await uow.users.next_change_seq(user.id)
            # Time between allocation and commit, where an unlocked allocator lets others pass.
            await asyncio.sleep(jitter.uniform(0, 0.01))
            await uow.entries.add(Entry.create(uuid.uuid4(), user.id, version("d"), seq, T0))
            await uow.commit()
            return seq

    async def read() -> None:
        cursor = 0
        while True:
            last_round = writing_done.is_set()
            async with pg_uow_factory() as uow:
                page = await uow.entries.changes_after(user.id, cursor, 1000)
            seen.extend(e.change_seq for e in page)
            cursor = page[-1].change_seq if page else cursor
            if last_round:
                return
            await asyncio.sleep(0.002)

    reader = asyncio.create_task(read())
    results = await outcomes(*(write() for _ in range(writers)))
    writing_done.set()
    await reader
    seqs = [r for r in results if isinstance(r, int)]
    assert len(seqs) == writers, [r for r in results if not isinstance(r, int)]
    assert sorted(seqs) == list(range(1, writers + 1))
    assert seen == list(range(1, writers + 1))


# ---------------------------------------------------------------- tags


async def test_concurrent_creation_of_one_tag_name_makes_one_tag(
    pg_uow_factory: UowFactory,
) -> None:
    """The unique (user_id, name_key) index and INSERT .. ON CONFLICT DO NOTHING."""
    user = await add_user(pg_uow_factory)
    spellings = ["Work", "work", " WORK ", "wOrk", "work", "Work  ", "WORK", "work"]

    async def create(name: str) -> tuple[Tag, bool]:
        async with pg_uow_factory() as uow:
            result = await uow.tags.add_or_get(Tag.new(uuid.uuid4(), user.id, name, None, T0))
            await asyncio.sleep(0.01)  # keep the transaction open while the others insert
            await uow.commit()
            return result

    results = await outcomes(*(create(name) for name in spellings))
    assert all(not isinstance(r, BaseException) for r in results), results
    done = [r for r in results if isinstance(r, tuple)]
    assert sum(created for _, created in done) == 1
    assert len({tag.id for tag, _ in done}) == 1
    async with pg_uow_factory() as uow:
        assert len(await uow.tags.list(user.id)) == 1


# ---------------------------------------------------------------- users


async def test_stale_saves_of_one_user_exactly_one_wins(pg_uow_factory: UowFactory) -> None:
    """The version counter: UPDATE .. WHERE version = <read version>. The loser's UPDATE waits
    for the winner's row lock, then finds the version moved on."""
    user = await add_user(pg_uow_factory)
    both_read = Rendezvous(2)

    async def rename(name: str) -> str:
        async with pg_uow_factory() as uow:
            loaded = await uow.users.get(user.id)
            assert loaded is not None
            await both_read.meet()
            loaded.rename(name, T0)
            await uow.users.save(loaded)
            await uow.commit()
            return name

    results = await outcomes(rename("first"), rename("second"))
    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if isinstance(r, ConcurrentUpdate)]
    assert len(winners) == 1 and len(losers) == 1, results
    async with pg_uow_factory() as uow:
        stored = await uow.users.get(user.id)
    assert stored is not None
    assert (stored.display_name, stored.version) == (winners[0], user.version + 1)


async def test_concurrent_registrations_of_one_email(pg_uow_factory: UowFactory) -> None:
    """The unique email index: the second insert waits for the first, then does nothing."""

    async def register() -> User:
        return await add_user(pg_uow_factory, "same@example.com")

    results = await outcomes(*(register() for _ in range(5)))
    assert sum(isinstance(r, User) for r in results) == 1, results
    assert sum(isinstance(r, AlreadyExists) for r in results) == 4, results


# ---------------------------------------------------------------- use cases


class WideWindowUnitOfWork(SqlAlchemyUnitOfWork):
    """Pauses after reading an entry or a refresh token, so racing requests overlap in their
    read-decide-write window however the event loop schedules them."""

    async def __aenter__(self) -> WideWindowUnitOfWork:
        await super().__aenter__()
        self.entries.get = _pausing(self.entries.get)  # type: ignore[method-assign,assignment]
        self.entries.upload_context = _pausing(self.entries.upload_context)  # type: ignore[method-assign,assignment]
        self.entries.upload_contexts = _pausing(self.entries.upload_contexts)  # type: ignore[method-assign,assignment]
        self.refresh_tokens.by_hash = _pausing(self.refresh_tokens.by_hash)  # type: ignore[method-assign,assignment]
        return self


def _pausing(read: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    async def paused(*args: Any) -> T:
        found = await read(*args)
        await asyncio.sleep(0.05)
        return found

    return paused


@pytest.fixture
def container(pg_clean: None, pg_session_factory: async_sessionmaker[AsyncSession]) -> Container:
    return memory_container(lambda: WideWindowUnitOfWork(pg_session_factory))


async def test_concurrent_uploads_of_one_entry_never_overwrite_silently(
    container: Container,
) -> None:
    """PushEntry locks the user row first (users.lock: SELECT .. FOR NO KEY UPDATE), so racing
    uploads of the same entry take turns: one is accepted, the others see its revision and
    become a conflict. Every uploaded version is kept."""
    user_id = await new_user(container, tier=PrivacyTier.FULL_SYNC)
    entry_id = uuid.uuid4()
    await container.push_entry()(user_id, upload(entry_id, version("phone")))
    devices = ["laptop", "tablet", "desktop", "watch"]
    uploads = {device: version(device) for device in devices}

    results = await outcomes(
        *(container.push_entry()(user_id, upload(entry_id, uploads[d], base=1)) for d in devices)
    )

    accepted = [r for r in results if isinstance(r, Pushed)]
    conflicted = [r for r in results if isinstance(r, EntryConflict)]
    assert len(accepted) == 1 and len(conflicted) == len(devices) - 1, results
    assert accepted[0].outcome is Outcome.ACCEPTED
    winner = accepted[0].entry.version
    assert winner is not None
    async with container.uow_factory()() as uow:
        stored = await uow.entries.get(user_id, entry_id)
        open_conflicts, _ = await uow.conflicts.list_open(user_id, limit=100)
        assert await uow.users.current_change_seq(user_id) == 2
    assert stored is not None and stored.revision == 2 and stored.version == winner
    # One open conflict per entry: the first loser's version; the rest were told to resolve it
    # first, and still hold their own copy (nothing was stored over theirs).
    assert len(open_conflicts) == 1
    conflict = open_conflicts[0]
    assert conflict.remote_revision == 2
    assert conflict.local in [uploads[d] for d in devices if uploads[d] != winner]
    assert {c.conflict_id for c in conflicted} == {conflict.id}


async def test_concurrent_refreshes_with_one_token_rotate_it_once(container: Container) -> None:
    """refresh_tokens.by_hash locks the token row, so the second presentation of a token
    waits, then sees it used: a replay, which revokes the whole family."""
    await new_user(container)
    pair = await container.sign_in()("ada@example.com", "correct horse battery")

    results = await outcomes(*(container.refresh_session()(pair.refresh_token) for _ in range(2)))

    rotated = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, AuthenticationFailed)]
    assert len(rotated) == 1 and len(refused) == 1, results
    with pytest.raises(AuthenticationFailed):  # the family is gone, successor included
        await container.refresh_session()(rotated[0].refresh_token)


async def test_a_batch_racing_single_pushes_of_the_same_entries_loses_no_version(
    container: Container,
) -> None:
    """PushBatch locks the user row before reading its items' contexts, as PushEntry does, so
    a batch and single pushes of the same entries take turns: for each entry one version is
    accepted and the other is kept as its open conflict; the batch's range of change
    sequences and the single pushes' numbers never collide."""

    user_id = await new_user(container, tier=PrivacyTier.FULL_SYNC)
    entry_ids = [uuid.uuid4() for _ in range(6)]
    for entry_id in entry_ids:
        await container.push_entry()(user_id, upload(entry_id, version("phone")))
    batched = {e: version("laptop") for e in entry_ids}
    singles = {e: version("tablet") for e in entry_ids}
    push_batch = container.push_batch()

    results = await outcomes(
        push_batch(user_id, [upload(e, batched[e], base=1) for e in entry_ids]),
        *(container.push_entry()(user_id, upload(e, singles[e], base=1)) for e in entry_ids),
    )

    batch_results, single_results = results[0], results[1:]
    assert isinstance(batch_results, list), batch_results
    async with container.uow_factory()() as uow:
        stored = {e.id: e for e in await uow.entries.get_many(user_id, entry_ids)}
        open_conflicts, _ = await uow.conflicts.list_open(user_id, limit=100)
        change_seq = await uow.users.current_change_seq(user_id)
    held = {c.entry_id: c.local for c in open_conflicts}
    for entry_id, item, single in zip(entry_ids, batch_results, single_results, strict=True):
        entry = stored[entry_id]
        assert entry.revision == 2, entry
        # Exactly one side won the entry; the other is its open conflict.
        if item.outcome is Outcome.ACCEPTED:
            assert isinstance(single, EntryConflict), single
            assert entry.version == batched[entry_id] and held[entry_id] == singles[entry_id]
        else:
            assert item.outcome is Outcome.CONFLICT and isinstance(single, Pushed), (item, single)
            assert entry.version == singles[entry_id] and held[entry_id] == batched[entry_id]
    assert len(open_conflicts) == len(entry_ids)
    assert change_seq == 2 * len(entry_ids)  # one number per accepted write, none twice
    assert sorted(e.change_seq for e in stored.values()) == list(range(7, 13))
