"""Use cases wired to memory adapters and fakes, for unit and property tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from reflective_domain.entries import EntryLimits, EntryVersion, Upload
from reflective_domain.he_params import CkksParameters
from reflective_domain.ports import UnitOfWorkFactory
from reflective_domain.tiers import PrivacyTier
from reflective_domain.use_cases import accounts, metrics, privacy, sync, tags
from reflective_domain.use_cases import batch as batch_cases
from reflective_domain.use_cases import conflicts as conflict_cases
from tests.fakes import FakeClock, FakePasswordHasher, FakeTokenService, PlaintextHe, SequentialIds

UTC = timezone.utc


@dataclass
class Services:
    uow: UnitOfWorkFactory
    clock: FakeClock
    ids: SequentialIds
    hasher: FakePasswordHasher
    tokens: FakeTokenService
    he: PlaintextHe
    limits: EntryLimits = field(default_factory=EntryLimits)

    # accounts
    @property
    def register(self) -> accounts.Register:
        return accounts.Register(self.uow, self.hasher, self.clock, self.ids)

    @property
    def sign_in(self) -> accounts.SignIn:
        return accounts.SignIn(self.uow, self.hasher, self.tokens, self.clock, self.ids)

    @property
    def refresh(self) -> accounts.RefreshSession:
        return accounts.RefreshSession(self.uow, self.tokens, self.clock, self.ids)

    @property
    def sign_out(self) -> accounts.SignOut:
        return accounts.SignOut(self.uow, self.clock)

    @property
    def authorize(self) -> accounts.Authorize:
        return accounts.Authorize(self.uow, self.tokens)

    @property
    def profile(self) -> accounts.GetProfile:
        return accounts.GetProfile(self.uow, self.clock)

    @property
    def update_profile(self) -> accounts.UpdateProfile:
        return accounts.UpdateProfile(self.uow, self.hasher, self.clock, self.profile)

    @property
    def delete_account(self) -> accounts.DeleteAccount:
        return accounts.DeleteAccount(self.uow, self.hasher, self.clock)

    # privacy
    @property
    def change_tier(self) -> privacy.ChangeTier:
        return privacy.ChangeTier(self.uow, self.he, self.clock, CkksParameters.default())

    @property
    def revoke(self) -> privacy.RevokeSync:
        return privacy.RevokeSync(self.change_tier)

    # sync
    @property
    def push(self) -> sync.PushEntry:
        return sync.PushEntry(self.uow, self.clock, self.ids, self.limits)

    @property
    def pull(self) -> sync.PullChanges:
        return sync.PullChanges(self.uow)

    @property
    def backups(self) -> sync.ListBackups:
        return sync.ListBackups(self.uow)

    @property
    def delete_entry(self) -> sync.DeleteEntry:
        return sync.DeleteEntry(self.uow, self.clock, metrics.RollupBook(self.he), self.limits)

    @property
    def delete_all_entries(self) -> sync.DeleteAllEntries:
        return sync.DeleteAllEntries(self.uow)

    @property
    def conflicts(self) -> conflict_cases.ListConflicts:
        return conflict_cases.ListConflicts(self.uow)

    @property
    def resolve(self) -> conflict_cases.ResolveConflict:
        return conflict_cases.ResolveConflict(self.uow, self.clock, self.limits)

    @property
    def batch(self) -> batch_cases.PushBatch:
        return batch_cases.PushBatch(self.uow, self.clock, self.ids, self.limits)

    @property
    def revisions(self) -> sync.ListRevisions:
        return sync.ListRevisions(self.uow)

    @property
    def delete_revisions(self) -> sync.DeleteRevisions:
        return sync.DeleteRevisions(self.uow)

    # metrics
    @property
    def upload_metrics(self) -> metrics.UploadMetrics:
        return metrics.UploadMetrics(self.uow, self.he, self.he, self.ids)

    @property
    def retract_metrics(self) -> metrics.RetractMetrics:
        return metrics.RetractMetrics(self.uow, self.he)

    @property
    def aggregate(self) -> metrics.Aggregate:
        return metrics.Aggregate(self.uow, self.he)

    # tags
    @property
    def create_tag(self) -> tags.CreateTag:
        return tags.CreateTag(self.uow, self.clock, self.ids)

    @property
    def list_tags(self) -> tags.ListTags:
        return tags.ListTags(self.uow)

    @property
    def cleanup_tags(self) -> tags.CleanupTags:
        return tags.CleanupTags(self.uow, self.clock)

    # helpers
    async def new_user(
        self, email: str = "ada@example.com", tier: PrivacyTier = PrivacyTier.LOCAL_ONLY
    ) -> uuid.UUID:
        user = await self.register(accounts.Registration(email, "correct horse battery"))
        if tier is not PrivacyTier.LOCAL_ONLY:
            await self.change_tier(user.id, tier, self.clock.now(), b"PK-1")
        return user.id


_counter = 0


def version(
    device: str = "phone",
    content: bytes | None = None,
    at: datetime | None = None,
) -> EntryVersion:
    """A fresh encrypted version: unique ciphertext and IV unless ``content`` is given."""
    global _counter
    _counter += 1
    moment = at or datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    return EntryVersion(
        content=content if content is not None else f"ciphertext-{_counter}".encode(),
        iv=_counter.to_bytes(12, "big"),
        tag=b"t" * 16,
        created_at=moment,
        updated_at=moment,
        device_id=device,
    )


def upload(entry_id: uuid.UUID, v: EntryVersion, base: int | None = None) -> Upload:
    return Upload(entry_id, v, base)
