"""Export: every cloud record of a user, ciphertexts and metadata, in one bundle."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from reflective_domain.accounts import User
from reflective_domain.entries import Conflict, Entry
from reflective_domain.metrics import EncryptedMetric
from reflective_domain.ports.unit_of_work import UnitOfWorkFactory
from reflective_domain.tags import Tag
from reflective_domain.use_cases._guards import load_user


@dataclass(frozen=True, slots=True)
class ExportBundle:
    user: User
    tags: list[Tag]
    entries: list[Entry]
    conflicts: list[Conflict]
    metrics: list[EncryptedMetric]


class ExportData:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(self, user_id: uuid.UUID) -> ExportBundle:
        async with self._uow() as uow:
            user = await load_user(uow, user_id)
            return ExportBundle(
                user=user,
                tags=await uow.tags.list(user_id),
                entries=await uow.entries.all(user_id),
                conflicts=await uow.conflicts.all(user_id),
                metrics=await uow.metrics.all(user_id),
            )
