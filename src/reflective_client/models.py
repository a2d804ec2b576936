"""Typed results of the API, parsed leniently: unknown fields are ignored, so a newer server
does not break an older client. Binary fields arrive decoded (bytes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reflective_client.wire import parse_time, parse_time_or_none, unb64, unb64_or_none
from reflective_domain.he_params import CkksParameters

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_in: int | None = None
    token_type: str = "bearer"

    @classmethod
    def parse(cls, data: Json) -> Tokens:
        return cls(
            access_token=str(data["access_token"]),
            refresh_token=data.get("refresh_token"),
            expires_in=data.get("expires_in"),
            token_type=str(data.get("token_type", "bearer")),
        )


@dataclass(frozen=True, slots=True)
class UserProfile:
    id: str
    email: str
    display_name: str | None
    privacy_tier: str
    timezone: str
    locale: str
    daily_word_goal: int
    writing_reminder_time: str | None
    theme_preferences: dict[str, str]
    ai_features_enabled: bool
    created_at: datetime
    updated_at: datetime
    logs_count: int
    writing_streak: int
    total_words_written: int

    @classmethod
    def parse(cls, d: Json) -> UserProfile:
        return cls(
            id=str(d["id"]),
            email=str(d["email"]),
            display_name=d.get("display_name"),
            privacy_tier=str(d["privacy_tier"]),
            timezone=str(d.get("timezone", "UTC")),
            locale=str(d.get("locale", "en-US")),
            daily_word_goal=int(d.get("daily_word_goal", 750)),
            writing_reminder_time=d.get("writing_reminder_time"),
            theme_preferences=dict(d.get("theme_preferences") or {}),
            ai_features_enabled=bool(d.get("ai_features_enabled", True)),
            created_at=parse_time(d["created_at"]),
            updated_at=parse_time(d["updated_at"]),
            logs_count=int(d.get("logs_count", 0)),
            writing_streak=int(d.get("writing_streak", 0)),
            total_words_written=int(d.get("total_words_written", 0)),
        )


@dataclass(frozen=True, slots=True)
class Preferences:
    daily_word_goal: int
    writing_reminder_time: str | None
    theme_preferences: dict[str, str]
    ai_features_enabled: bool
    timezone: str
    locale: str

    @classmethod
    def parse(cls, d: Json) -> Preferences:
        return cls(
            daily_word_goal=int(d["daily_word_goal"]),
            writing_reminder_time=d.get("writing_reminder_time"),
            theme_preferences=dict(d.get("theme_preferences") or {}),
            ai_features_enabled=bool(d.get("ai_features_enabled", True)),
            timezone=str(d["timezone"]),
            locale=str(d["locale"]),
        )


@dataclass(frozen=True, slots=True)
class Privacy:
    current_tier: str
    sync_enabled: bool
    sync_enabled_at: datetime | None
    features_available: dict[str, bool]

    @classmethod
    def parse(cls, d: Json) -> Privacy:
        return cls(
            current_tier=str(d["current_tier"]),
            sync_enabled=bool(d["sync_enabled"]),
            sync_enabled_at=parse_time_or_none(d.get("sync_enabled_at")),
            features_available={k: bool(v) for k, v in (d.get("features_available") or {}).items()},
        )


@dataclass(frozen=True, slots=True)
class Revoked:
    message: str
    deleted_metrics: int
    deleted_backups: int
    deleted_conflicts: int
    new_tier: str

    @classmethod
    def parse(cls, d: Json) -> Revoked:
        return cls(
            message=str(d.get("message", "")),
            deleted_metrics=int(d.get("deleted_metrics", 0)),
            deleted_backups=int(d.get("deleted_backups", 0)),
            deleted_conflicts=int(d.get("deleted_conflicts", 0)),
            new_tier=str(d.get("new_tier", "local_only")),
        )


@dataclass(frozen=True, slots=True)
class Tag:
    id: str
    name: str
    color: str
    created_at: datetime
    last_used_at: datetime | None

    @classmethod
    def parse(cls, d: Json) -> Tag:
        return cls(
            id=str(d["id"]),
            name=str(d["name"]),
            color=str(d["color"]),
            created_at=parse_time(d["created_at"]),
            last_used_at=parse_time_or_none(d.get("last_used_at")),
        )


@dataclass(frozen=True, slots=True)
class TagCreated:
    tag: Tag
    created: bool
    """False: the server already had a tag of that name and answered it (200)."""


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """The contract's plain ``{success, message, details}``."""

    success: bool
    message: str
    details: dict[str, Any]

    @classmethod
    def parse(cls, d: Json) -> Acknowledgement:
        return cls(
            bool(d.get("success", True)), str(d.get("message", "")), dict(d.get("details") or {})
        )


@dataclass(frozen=True, slots=True)
class Deleted:
    """Bulk deletion answers: how many records went."""

    message: str
    count: int

    @classmethod
    def parse(cls, d: Json, key: str) -> Deleted:
        return cls(str(d.get("message", "")), int(d.get(key, 0)))


@dataclass(frozen=True, slots=True)
class EncryptionContext:
    """What the server announces: the CKKS parameters to build a SEAL context from."""

    parameters: CkksParameters
    serialized_context: bytes = field(repr=False)

    @classmethod
    def parse(cls, d: Json) -> EncryptionContext:
        p = d["context_params"]
        if str(p.get("scheme", "CKKS")).upper() != "CKKS":
            raise ValueError(f"unsupported HE scheme {p.get('scheme')!r}")
        return cls(
            CkksParameters(
                int(p["poly_modulus_degree"]),
                tuple(int(b) for b in p["coeff_mod_bit_sizes"]),
                float(p["scale"]),
            ),
            unb64(d.get("serialized_context") or ""),
        )


@dataclass(frozen=True, slots=True)
class MetricUpload:
    """One encrypted value for ``POST /api/encryption/metrics``."""

    metric_type: str
    ciphertext: bytes = field(repr=False)
    timestamp: datetime
    log_id: str | None = None


@dataclass(frozen=True, slots=True)
class AggregateResult:
    metric_type: str
    ciphertext: bytes = field(repr=False)
    count: int
    operation: str

    @classmethod
    def parse(cls, d: Json) -> AggregateResult:
        return cls(
            metric_type=str(d["metric_type"]),
            ciphertext=unb64(d["encrypted_result"]),
            count=int(d["count"]),
            operation=str(d["operation"]),
        )


@dataclass(frozen=True, slots=True)
class EncryptedEntry:
    """One encrypted entry version as it travels: AES-GCM ciphertext, IV and tag apart."""

    id: str
    content: bytes = field(repr=False)
    iv: bytes
    tag: bytes | None
    created_at: datetime
    updated_at: datetime
    device_id: str
    embedding: bytes | None = field(default=None, repr=False)
    embedding_iv: bytes | None = None


@dataclass(frozen=True, slots=True)
class BackupStored:
    id: str
    user_id: str
    created_at: datetime
    updated_at: datetime
    device_id: str
    message: str
    revision: int | None

    @classmethod
    def parse(cls, d: Json) -> BackupStored:
        return cls(
            id=str(d["id"]),
            user_id=str(d.get("user_id", "")),
            created_at=parse_time(d["created_at"]),
            updated_at=parse_time(d["updated_at"]),
            device_id=str(d["device_id"]),
            message=str(d.get("message", "")),
            revision=d.get("revision"),
        )


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One item of a batch push: ``outcome`` created, accepted, unchanged or conflict."""

    id: str
    outcome: str
    revision: int | None
    conflict_id: str | None

    @classmethod
    def parse(cls, d: Json) -> BatchItem:
        revision, conflict_id = d.get("revision"), d.get("conflict_id")
        return cls(
            id=str(d["id"]),
            outcome=str(d["outcome"]),
            revision=int(revision) if revision is not None else None,
            conflict_id=str(conflict_id) if conflict_id is not None else None,
        )

    @staticmethod
    def parse_all(d: Json) -> list[BatchItem]:
        return [BatchItem.parse(item) for item in d.get("results", [])]


@dataclass(frozen=True, slots=True)
class Change:
    """An entry's latest server state; ``entry`` is None for a tombstone."""

    id: str
    revision: int
    deleted: bool
    device_id: str
    synced_at: datetime | None
    entry: EncryptedEntry | None

    @classmethod
    def parse(cls, d: Json) -> Change:
        deleted = bool(d.get("deleted", False))
        return cls(
            id=str(d["id"]),
            revision=int(d.get("revision", 0)),
            deleted=deleted,
            device_id=str(d.get("device_id", "")),
            synced_at=parse_time_or_none(d.get("synced_at")),
            entry=None if deleted else _entry(d),
        )


def _entry(d: Json) -> EncryptedEntry:
    return EncryptedEntry(
        id=str(d["id"]),
        content=unb64(d["encrypted_content"]),
        iv=unb64(d["content_iv"]),
        tag=unb64_or_none(d.get("content_tag")),
        created_at=parse_time(d["created_at"]),
        updated_at=parse_time(d["updated_at"]),
        device_id=str(d["device_id"]),
        embedding=unb64_or_none(d.get("encrypted_embedding")),
        embedding_iv=unb64_or_none(d.get("embedding_iv")),
    )


@dataclass(frozen=True, slots=True)
class ChangePage:
    changes: list[Change]
    next_cursor: str
    has_more: bool

    @classmethod
    def parse(cls, d: Json) -> ChangePage:
        return cls(
            [Change.parse(c) for c in d.get("changes", [])],
            str(d["next_cursor"]),
            bool(d.get("has_more", False)),
        )


@dataclass(frozen=True, slots=True)
class Revision:
    """A kept (replaced) version of an entry: ciphertext as uploaded, the revision it was,
    the device that wrote it and when it was replaced."""

    log_id: str
    revision: int
    content: bytes = field(repr=False)
    iv: bytes
    tag: bytes | None
    device_id: str
    replaced_at: datetime

    @classmethod
    def parse(cls, d: Json) -> Revision:
        return cls(
            log_id=str(d["log_id"]),
            revision=int(d["revision"]),
            content=unb64(d["encrypted_content"]),
            iv=unb64(d["content_iv"]),
            tag=unb64_or_none(d.get("content_tag")),
            device_id=str(d["device_id"]),
            replaced_at=parse_time(d["replaced_at"]),
        )


@dataclass(frozen=True, slots=True)
class RevisionPage:
    revisions: list[Revision]
    next_cursor: str | None
    has_more: bool

    @classmethod
    def parse(cls, d: Json) -> RevisionPage:
        cursor = d.get("next_cursor")
        return cls(
            [Revision.parse(r) for r in d.get("revisions", [])],
            None if cursor is None else str(cursor),
            bool(d.get("has_more", False)),
        )


@dataclass(frozen=True, slots=True)
class Backup:
    entry: EncryptedEntry
    revision: int | None
    synced_at: datetime | None


@dataclass(frozen=True, slots=True)
class BackupPage:
    backups: list[Backup]
    has_more: bool
    total_count: int

    @classmethod
    def parse(cls, d: Json) -> BackupPage:
        return cls(
            [
                Backup(_entry(b), b.get("revision"), parse_time_or_none(b.get("synced_at")))
                for b in d.get("backups", [])
            ],
            bool(d.get("has_more", False)),
            int(d.get("total_count", 0)),
        )


@dataclass(frozen=True, slots=True)
class ConflictVersion:
    content: bytes = field(repr=False)
    iv: bytes
    tag: bytes | None
    updated_at: datetime
    device_id: str

    @classmethod
    def parse(cls, d: Json) -> ConflictVersion:
        return cls(
            content=unb64(d["encrypted_content"]),
            iv=unb64(d["iv"]),
            tag=unb64_or_none(d.get("tag")),
            updated_at=parse_time(d["updated_at"]),
            device_id=str(d["device_id"]),
        )


@dataclass(frozen=True, slots=True)
class Conflict:
    """``local``: the upload the server could not apply; ``remote``: the entry's current
    version (None if the entry was deleted since)."""

    id: str
    log_id: str
    local: ConflictVersion
    remote: ConflictVersion | None
    detected_at: datetime
    remote_revision: int | None

    @classmethod
    def parse(cls, d: Json) -> Conflict:
        remote = d.get("remote_version")
        return cls(
            id=str(d["id"]),
            log_id=str(d["log_id"]),
            local=ConflictVersion.parse(d["local_version"]),
            remote=None if remote is None else ConflictVersion.parse(remote),
            detected_at=parse_time(d["detected_at"]),
            remote_revision=d.get("remote_revision"),
        )


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One sign-in of the account (a refresh-token family)."""

    id: str
    device_name: str | None
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    current: bool

    @classmethod
    def parse(cls, d: Json) -> SessionInfo:
        return cls(
            id=str(d["id"]),
            device_name=d.get("device_name"),
            created_at=parse_time(d["created_at"]),
            last_used_at=parse_time(d["last_used_at"]),
            expires_at=parse_time(d["expires_at"]),
            current=bool(d.get("current", False)),
        )


@dataclass(frozen=True, slots=True)
class SyncDeviceInfo:
    device_id: str
    first_seen_at: datetime
    last_seen_at: datetime
    entries_written: int

    @classmethod
    def parse(cls, d: Json) -> SyncDeviceInfo:
        return cls(
            device_id=str(d["device_id"]),
            first_seen_at=parse_time(d["first_seen_at"]),
            last_seen_at=parse_time(d["last_seen_at"]),
            entries_written=int(d.get("entries_written", 0)),
        )


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One event of ``GET /api/sync/events``. ``kind``: ``subscribed`` (the stream is open:
    every later change will be announced), ``changes`` (the change sequence moved to
    ``cursor``; ``kinds`` says what: entries, conflicts), ``metrics`` or ``resync``."""

    kind: str
    cursor: str | None = None
    kinds: tuple[str, ...] = ()
    id: str | None = None

    @classmethod
    def parse(cls, d: Json, event_id: str | None) -> ChangeEvent:
        if "cursor" in d:
            return cls("changes", str(d["cursor"]), tuple(d.get("kinds", ())), event_id)
        return cls(str(d.get("kind", "unknown")), id=event_id)
