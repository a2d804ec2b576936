"""Checks several use cases share."""

from __future__ import annotations

import uuid
from datetime import datetime

from reflective_domain.accounts import AccountState, User
from reflective_domain.errors import (
    AuthenticationFailed,
    ConcurrentUpdate,
    ForbiddenByTier,
    NotFound,
)
from reflective_domain.he_params import HePublicKey
from reflective_domain.ports import UnitOfWork
from reflective_domain.tiers import CloudData

INVALID_TOKEN = "Could not validate credentials"

_NEEDS = {
    CloudData.ENTRIES: "Cloud sync needs the full_sync privacy tier",
    CloudData.CONFLICTS: "Cloud sync needs the full_sync privacy tier",
    CloudData.METRICS: "Encrypted analytics need the analytics_sync or full_sync privacy tier",
    CloudData.HE_KEY: "Encrypted analytics need the analytics_sync or full_sync privacy tier",
}


def check_token(found: AccountState | User | None, token_issued_at: datetime | None) -> None:
    """With ``token_issued_at`` (an access token's issue time, its signature already checked)
    the account must exist and not have ended its sessions since: this read of the user row
    is the token's check, inside the request's one transaction."""
    if token_issued_at is not None and (
        found is None or not found.accepts_token_issued_at(token_issued_at)
    ):
        raise AuthenticationFailed(INVALID_TOKEN)


async def load_user(
    uow: UnitOfWork,
    user_id: uuid.UUID,
    *,
    with_he_key: bool = True,
    token_issued_at: datetime | None = None,
) -> User:
    user = await uow.users.get(user_id, with_he_key=with_he_key)
    check_token(user, token_issued_at)
    if user is None:
        raise NotFound("User not found")
    return user


async def user_permitted(
    uow: UnitOfWork,
    user_id: uuid.UUID,
    data: CloudData,
    *,
    lock: bool = False,
    token_issued_at: datetime | None = None,
) -> User:
    """The user, if their tier lets the server keep ``data``. ``lock`` first serializes this
    transaction with the user's other writers (taken before reading anything)."""
    if lock:
        await uow.users.lock(user_id)
    user = await load_user(uow, user_id, token_issued_at=token_issued_at)
    if not user.privacy_tier.permits(data):
        raise ForbiddenByTier(_NEEDS[data])
    return user


async def account_state(
    uow: UnitOfWork,
    user_id: uuid.UUID,
    *,
    lock: bool = False,
    token_issued_at: datetime | None = None,
) -> AccountState:
    """The account's sync state in one read (locked for a writer), the token checked."""
    state = await uow.users.state(user_id, lock=lock)
    check_token(state, token_issued_at)
    if state is None:
        raise NotFound("User not found")
    return state


async def check_caller(
    uow: UnitOfWork, user_id: uuid.UUID, token_issued_at: datetime | None, *, lock: bool = False
) -> None:
    """For use cases that read no user row of their own: the access token's check (one narrow
    read, locked for a writer that serializes on the user) inside the use case's transaction.
    Without ``token_issued_at`` (a caller that checked the token itself) only the lock."""
    if token_issued_at is not None:
        await account_state(uow, user_id, lock=lock, token_issued_at=token_issued_at)
    elif lock:
        await uow.users.lock(user_id)


async def state_permitted(
    uow: UnitOfWork,
    user_id: uuid.UUID,
    data: CloudData,
    *,
    lock: bool = False,
    token_issued_at: datetime | None = None,
) -> AccountState:
    """``account_state``, if the tier lets the server keep ``data``."""
    state = await account_state(uow, user_id, lock=lock, token_issued_at=token_issued_at)
    if not state.privacy_tier.permits(data):
        raise ForbiddenByTier(_NEEDS[data])
    return state


async def confirm_metric_key(uow: UnitOfWork, user_id: uuid.UUID, key: HePublicKey) -> None:
    """Before a metric upload commits: the user still keeps metrics under ``key``. The row is
    read again, unlocked: a tier change or new key that deletes metrics waits for the upload's
    lock on the metrics, so either it ran before (and is seen here) or it runs after and
    deletes what the upload stores."""
    current = await uow.users.get(user_id)
    if (
        current is None
        or not current.privacy_tier.permits(CloudData.METRICS)
        or current.he_public_key != key
    ):
        raise ConcurrentUpdate("the HE key changed during the upload; upload again")
