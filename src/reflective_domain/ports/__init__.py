"""Ports: what the use cases need from the outside world, one small Protocol per job."""

from reflective_domain.ports.clock import Clock
from reflective_domain.ports.he import CiphertextValidator, HeAggregator
from reflective_domain.ports.ids import IdGenerator
from reflective_domain.ports.repositories import (
    ConflictRepository,
    DeliveryLog,
    EntryRepository,
    LoginAttemptRepository,
    MetricRepository,
    RefreshTokenRepository,
    TagRepository,
    UserRepository,
)
from reflective_domain.ports.security import PasswordHasher, TokenService
from reflective_domain.ports.storage import (
    StorageError,
    StorageProbe,
    StorageUnavailable,
    UnstorableValue,
)
from reflective_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

__all__ = [
    "CiphertextValidator",
    "Clock",
    "ConflictRepository",
    "DeliveryLog",
    "EntryRepository",
    "HeAggregator",
    "IdGenerator",
    "LoginAttemptRepository",
    "MetricRepository",
    "PasswordHasher",
    "RefreshTokenRepository",
    "StorageError",
    "StorageProbe",
    "StorageUnavailable",
    "TagRepository",
    "TokenService",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UnstorableValue",
    "UserRepository",
]
