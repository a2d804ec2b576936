"""The client's own values beside the protocol's Structs (:mod:`reflective_protocol`), which
the SDK sends and receives as they are: an encrypted entry version as the local store keeps
it, the tokens a session holds, and the conversions between them and the wire."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from reflective_domain.he_params import CkksParameters
from reflective_protocol.auth import TokenResponse
from reflective_protocol.encryption import ContextResponse
from reflective_protocol.sync import BackupUpload, BackupView, ChangeView, VersionView
from reflective_protocol.tags import TagView


@dataclass(frozen=True, slots=True)
class Tokens:
    """What a signed-in session holds (``refresh_token`` None: it cannot be renewed)."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_in: int | None = None
    token_type: str = "bearer"

    @classmethod
    def of(cls, answer: TokenResponse) -> Tokens:
        return cls(answer.access_token, answer.refresh_token, answer.expires_in, answer.token_type)


@dataclass(frozen=True, slots=True)
class EncryptedEntry:
    """One encrypted entry version as the device keeps it: AES-GCM ciphertext, IV and tag
    apart."""

    id: str
    content: bytes = field(repr=False)
    iv: bytes
    tag: bytes | None
    created_at: datetime
    updated_at: datetime
    device_id: str
    embedding: bytes | None = field(default=None, repr=False)
    embedding_iv: bytes | None = None

    def upload(self, base_revision: int | None = None) -> BackupUpload:
        """As ``POST /api/sync/backup`` takes it (an embedding only with its IV)."""
        with_embedding = self.embedding is not None and self.embedding_iv is not None
        return BackupUpload(
            id=uuid.UUID(self.id),
            encrypted_content=self.content,
            content_iv=self.iv,
            created_at=self.created_at,
            updated_at=self.updated_at,
            device_id=self.device_id,
            content_tag=self.tag,
            encrypted_embedding=self.embedding if with_embedding else None,
            embedding_iv=self.embedding_iv if with_embedding else None,
            base_revision=base_revision,
        )


def stored_entry(view: BackupView | ChangeView) -> EncryptedEntry | None:
    """The version a listing or a change carries; None for a tombstone."""
    if (
        view.encrypted_content is None
        or view.content_iv is None
        or view.created_at is None
        or view.updated_at is None
    ):
        return None
    return EncryptedEntry(
        id=str(view.id),
        content=view.encrypted_content,
        iv=view.content_iv,
        tag=view.content_tag,
        created_at=view.created_at,
        updated_at=view.updated_at,
        device_id=view.device_id,
        embedding=view.encrypted_embedding,
        embedding_iv=view.embedding_iv,
    )


def conflict_version(
    log_id: uuid.UUID, version: VersionView, created_at: datetime
) -> EncryptedEntry:
    """One side of a conflict as an entry version (a conflict does not carry ``created_at``)."""
    return EncryptedEntry(
        str(log_id),
        version.encrypted_content,
        version.iv,
        version.tag,
        created_at,
        version.updated_at,
        version.device_id,
    )


def context_parameters(context: ContextResponse) -> CkksParameters:
    """The CKKS parameters the server announces, to build a SEAL context from."""
    p = context.context_params
    if p.scheme.upper() != "CKKS":
        raise ValueError(f"unsupported HE scheme {p.scheme!r}")
    return CkksParameters(p.poly_modulus_degree, tuple(p.coeff_mod_bit_sizes), float(p.scale))


@dataclass(frozen=True, slots=True)
class TagCreated:
    tag: TagView
    created: bool
    """False: the server already had a tag of that name and answered it (200)."""


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One event of ``GET /api/sync/events``. ``kind``: ``subscribed`` (the stream is open:
    every later change will be announced), ``changes`` (the change sequence moved to
    ``cursor``; ``kinds`` says what: entries, conflicts), ``metrics`` or ``resync``."""

    kind: str
    cursor: str | None = None
    kinds: tuple[str, ...] = ()
    id: str | None = None
