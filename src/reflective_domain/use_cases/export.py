"""Export: every cloud record of a user, ciphertexts and metadata.

``ExportData`` reads everything at once (small accounts, tests); ``ExportPages`` reads the
account, then entries, conflicts, metrics and packed years a page at a time, each page in a
short transaction of its own, so an export holds at most one page of ciphertexts in memory
and no database connection while the client reads. Pages go by id (packed years by type and
year): a record that exists throughout the export appears exactly once.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from reflective_domain.accounts import User
from reflective_domain.entries import Conflict, Entry, Revision
from reflective_domain.metrics import EncryptedMetric
from reflective_domain.packed import PackedWindow
from reflective_domain.ports.he import ClientCiphertexts
from reflective_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from reflective_domain.tags import Tag
from reflective_domain.use_cases._ciphertexts import for_clients
from reflective_domain.use_cases._guards import load_user

# Entries are at most ~1 MiB and a metric ~0.33 MiB: a page stays within a few tens of MiB.
ENTRY_PAGE = 16
CONFLICT_PAGE = 16
REVISION_PAGE = 16
METRIC_PAGE = 32
PACKED_PAGE = 32

T = TypeVar("T", Entry, Conflict, EncryptedMetric)


@dataclass(frozen=True, slots=True)
class ExportBundle:
    user: User
    tags: list[Tag]
    entries: list[Entry]
    conflicts: list[Conflict]
    metrics: list[EncryptedMetric]
    packed_metrics: list[PackedWindow]
    revisions: list[Revision]


class ExportData:
    def __init__(
        self, uow: UnitOfWorkFactory, ciphertexts: ClientCiphertexts | None = None
    ) -> None:
        self._uow = uow
        self._ciphertexts = ciphertexts

    async def __call__(self, user_id: uuid.UUID) -> ExportBundle:
        async with self._uow() as uow:
            user = await load_user(uow, user_id)
            bundle = ExportBundle(
                user=user,
                tags=await uow.tags.list(user_id),
                entries=await uow.entries.all(user_id),
                conflicts=await uow.conflicts.all(user_id),
                metrics=await uow.metrics.all(user_id),
                packed_metrics=await uow.packed_metrics.all(user_id),
                revisions=await _all_revisions(uow, user_id),
            )
        return dataclasses.replace(
            bundle,
            metrics=await for_clients(self._ciphertexts, bundle.metrics),
            packed_metrics=await for_clients(self._ciphertexts, bundle.packed_metrics),
        )


async def _all_revisions(uow: UnitOfWork, user_id: uuid.UUID) -> list[Revision]:
    found: list[Revision] = []
    while page := await uow.entries.revisions_page(
        user_id, (found[-1].entry_id, found[-1].revision) if found else None, REVISION_PAGE
    ):
        found.extend(page)
    return found


@dataclass(frozen=True, slots=True)
class ExportHead:
    user: User
    tags: list[Tag]


class ExportPages:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        entry_page: int = ENTRY_PAGE,
        conflict_page: int = CONFLICT_PAGE,
        metric_page: int = METRIC_PAGE,
        ciphertexts: ClientCiphertexts | None = None,
    ) -> None:
        self._uow = uow
        self._sizes = (entry_page, conflict_page, metric_page)
        self._ciphertexts = ciphertexts

    async def head(
        self, user_id: uuid.UUID, *, token_issued_at: datetime | None = None
    ) -> ExportHead:
        """The account and its tags (at most the tag cap); 404 for an unknown user."""
        async with self._uow() as uow:
            user = await load_user(uow, user_id, token_issued_at=token_issued_at)
            return ExportHead(user, await uow.tags.list(user_id))

    def entries(self, user_id: uuid.UUID) -> AsyncIterator[list[Entry]]:
        return self._pages(
            lambda uow, after, n: uow.entries.page_by_id(user_id, after, n), self._sizes[0]
        )

    def conflicts(self, user_id: uuid.UUID) -> AsyncIterator[list[Conflict]]:
        return self._pages(
            lambda uow, after, n: uow.conflicts.page_by_id(user_id, after, n), self._sizes[1]
        )

    async def metrics(self, user_id: uuid.UUID) -> AsyncIterator[list[EncryptedMetric]]:
        pages = self._pages(
            lambda uow, after, n: uow.metrics.page_by_id(user_id, after, n), self._sizes[2]
        )
        async for page in pages:
            yield await for_clients(self._ciphertexts, page)

    async def packed_metrics(self, user_id: uuid.UUID) -> AsyncIterator[list[PackedWindow]]:
        """Packed years a year at a time (a few per metric type and year of journal)."""
        after: tuple[str, int] | None = None
        while True:
            async with self._uow() as uow:
                page = await uow.packed_metrics.page(user_id, after, PACKED_PAGE)
            if page:
                yield await for_clients(self._ciphertexts, page)
            if len(page) < PACKED_PAGE:
                return
            after = (page[-1].metric_type, page[-1].year)

    async def revisions(self, user_id: uuid.UUID) -> AsyncIterator[list[Revision]]:
        """Kept versions, by entry then revision, a page at a time (each in its own
        transaction, as the other sections)."""
        after: tuple[uuid.UUID, int] | None = None
        while True:
            async with self._uow() as uow:
                page = await uow.entries.revisions_page(user_id, after, REVISION_PAGE)
            if page:
                yield page
            if len(page) < REVISION_PAGE:
                return
            after = (page[-1].entry_id, page[-1].revision)

    async def _pages(
        self,
        read: Callable[[UnitOfWork, uuid.UUID | None, int], Awaitable[list[T]]],
        size: int,
    ) -> AsyncIterator[list[T]]:
        after: uuid.UUID | None = None
        while True:
            async with self._uow() as uow:
                page = await read(uow, after, size)
            if page:
                yield page
            if len(page) < size:
                return
            after = page[-1].id
