"""Checks several use cases share."""

from __future__ import annotations

import uuid

from reflective_domain.accounts import User
from reflective_domain.errors import ForbiddenByTier, NotFound
from reflective_domain.ports import UnitOfWork
from reflective_domain.tiers import CloudData

_NEEDS = {
    CloudData.ENTRIES: "Cloud sync needs the full_sync privacy tier",
    CloudData.CONFLICTS: "Cloud sync needs the full_sync privacy tier",
    CloudData.METRICS: "Encrypted analytics need the analytics_sync or full_sync privacy tier",
    CloudData.HE_KEY: "Encrypted analytics need the analytics_sync or full_sync privacy tier",
}


async def load_user(uow: UnitOfWork, user_id: uuid.UUID) -> User:
    user = await uow.users.get(user_id)
    if user is None:
        raise NotFound("User not found")
    return user


async def user_permitted(
    uow: UnitOfWork, user_id: uuid.UUID, data: CloudData, *, lock: bool = False
) -> User:
    """The user, if their tier lets the server keep ``data``. ``lock`` first serializes this
    transaction with the user's other writers (taken before reading anything)."""
    if lock:
        await uow.users.lock(user_id)
    user = await load_user(uow, user_id)
    if not user.privacy_tier.permits(data):
        raise ForbiddenByTier(_NEEDS[data])
    return user
