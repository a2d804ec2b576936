"""Privacy tiers: read, change (deleting what a lower tier does not keep) and revoke."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from reflective_domain.accounts import User
from reflective_domain.errors import InvalidCiphertext
from reflective_domain.he_params import CkksParameters, HePublicKey
from reflective_domain.ports import CiphertextValidator, Clock, UnitOfWork
from reflective_domain.ports.unit_of_work import UnitOfWorkFactory
from reflective_domain.tiers import CloudData, Features, PrivacyTier
from reflective_domain.use_cases._guards import load_user


@dataclass(frozen=True, slots=True)
class PrivacyState:
    tier: PrivacyTier
    sync_enabled: bool
    sync_enabled_at: datetime | None
    features: Features

    @classmethod
    def of(cls, user: User) -> PrivacyState:
        return cls(
            user.privacy_tier,
            user.sync_enabled,
            user.sync_enabled_at,
            Features.of(user.privacy_tier),
        )


@dataclass(frozen=True, slots=True)
class Deleted:
    """How much cloud data a tier change removed."""

    metrics: int = 0
    entries: int = 0
    conflicts: int = 0


@dataclass(frozen=True, slots=True)
class TierChanged:
    state: PrivacyState
    deleted: Deleted


async def delete_cloud_data(
    uow: UnitOfWork, user_id: uuid.UUID, kinds: frozenset[CloudData]
) -> Deleted:
    """Remove exactly the kinds of data named (the HE key lives on the user)."""
    metrics = entries = conflicts = 0
    if CloudData.METRICS in kinds:
        await uow.metrics.lock_writes(user_id)  # after the user's lock, as everywhere
        metrics = await uow.metrics.delete_all(user_id)
        await uow.packed_metrics.delete_all(user_id)
    if CloudData.CONFLICTS in kinds:
        conflicts = await uow.conflicts.delete_all(user_id)
    if CloudData.ENTRIES in kinds:
        entries = await uow.entries.delete_all(user_id)
        await uow.deliveries.delete_all(user_id)
    if CloudData.ENTRIES in kinds and CloudData.CONFLICTS in kinds:
        # Tags stay on every tier: their bytes stay counted.
        await uow.users.clear_stored_bytes(user_id, await uow.tags.stored_bytes(user_id))
    return Deleted(metrics, entries, conflicts)


class GetPrivacy:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(
        self, user_id: uuid.UUID, *, token_issued_at: datetime | None = None
    ) -> PrivacyState:
        async with self._uow() as uow:
            user = await load_user(uow, user_id, with_he_key=False, token_issued_at=token_issued_at)
            return PrivacyState.of(user)


class ChangeTier:
    """Move between tiers. A new HE public key is checked to load under the parameters the
    server announces now, and those parameters stay the user's from then on."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        validator: CiphertextValidator,
        clock: Clock,
        parameters: CkksParameters,
        also_accepted: Sequence[CkksParameters] = (),
    ) -> None:
        self._uow, self._validator, self._clock = uow, validator, clock
        self._parameters = parameters
        # A key made under an earlier announced set (a client that read the context before
        # the server changed it) is registered under the set it loads under.
        self._candidates = (parameters, *(p for p in also_accepted if p != parameters))

    async def __call__(
        self,
        user_id: uuid.UUID,
        target: PrivacyTier,
        consent_at: datetime | None = None,
        he_public_key: bytes | None = None,
        *,
        token_issued_at: datetime | None = None,
    ) -> TierChanged:
        key = None
        if he_public_key is not None and target.needs_he_key:
            key = HePublicKey(he_public_key, self._parameters)
        async with self._uow() as uow:
            await uow.users.lock(user_id)
            user = await load_user(uow, user_id, token_issued_at=token_issued_at)
            if (
                key is not None
                and user.he_public_key is not None
                and (user.he_public_key.data == key.data)
            ):
                key = user.he_public_key  # same key: keep the parameters it was made under
            if key is not None and key is not user.he_public_key:
                key = await self._checked(key.data)
            change = user.change_tier(target, self._clock.now(), consent_at, key)
            deleted = await delete_cloud_data(uow, user_id, change.delete)
            await uow.users.save(user)
            await uow.commit()
        return TierChanged(PrivacyState.of(user), deleted)

    async def _checked(self, data: bytes) -> HePublicKey:
        """The key under the first accepted parameter set it loads under."""
        refusal: InvalidCiphertext | None = None
        for parameters in self._candidates:
            key = HePublicKey(data, parameters)
            try:
                await self._validator.check_public_key(key)
            except InvalidCiphertext as exc:
                refusal = refusal or exc  # the announced set's reason is the one to show
                continue
            return key
        assert refusal is not None
        raise refusal


class RevokeSync:
    """Back to local_only: every metric, entry and conflict and the HE key are deleted."""

    def __init__(self, change_tier: ChangeTier) -> None:
        self._change_tier = change_tier

    async def __call__(
        self, user_id: uuid.UUID, *, token_issued_at: datetime | None = None
    ) -> TierChanged:
        return await self._change_tier(
            user_id, PrivacyTier.LOCAL_ONLY, token_issued_at=token_issued_at
        )
