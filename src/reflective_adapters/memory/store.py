from __future__ import annotations

import asyncio
import copy
import uuid
from dataclasses import dataclass, field
from datetime import date

from reflective_domain.accounts import User
from reflective_domain.entries import Conflict, Entry, Revision
from reflective_domain.metrics import EncryptedMetric, Period, Rollup
from reflective_domain.packed import PackedWindow
from reflective_domain.sessions import RefreshToken
from reflective_domain.tags import Tag
from reflective_domain.throttling import LoginAttempts

UserId = uuid.UUID


@dataclass
class Tables:
    """Everything the store holds; copied whole at the start of each unit of work."""

    users: dict[UserId, User] = field(default_factory=dict)
    change_seqs: dict[UserId, int] = field(default_factory=dict)
    stored_bytes: dict[UserId, int] = field(default_factory=dict)
    tags: dict[uuid.UUID, Tag] = field(default_factory=dict)
    entries: dict[tuple[UserId, uuid.UUID], Entry] = field(default_factory=dict)
    fingerprints: dict[tuple[UserId, uuid.UUID, bytes], int] = field(default_factory=dict)
    history: dict[tuple[UserId, uuid.UUID, int], Revision] = field(default_factory=dict)
    conflicts: dict[uuid.UUID, Conflict] = field(default_factory=dict)
    deliveries: dict[tuple[UserId, str, uuid.UUID], int] = field(default_factory=dict)
    metrics: dict[uuid.UUID, EncryptedMetric] = field(default_factory=dict)
    rollups: dict[tuple[UserId, str, Period, date], Rollup] = field(default_factory=dict)
    packed: dict[tuple[UserId, str, int], PackedWindow] = field(default_factory=dict)
    packed_keys: dict[tuple[UserId, bytes], bool] = field(default_factory=dict)
    refresh_tokens: dict[uuid.UUID, RefreshToken] = field(default_factory=dict)
    login_attempts: dict[bytes, LoginAttempts] = field(default_factory=dict)

    def copy(self) -> Tables:
        # bytes are immutable and shared, so the copy is cheap even for large ciphertexts.
        return copy.deepcopy(self)


class MemoryStore:
    """The committed state, shared by the units of work made from it."""

    def __init__(self) -> None:
        self.tables = Tables()
        self.lock = asyncio.Lock()
