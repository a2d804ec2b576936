"""The tables, as SQLAlchemy Core. Only the adapter sees them; ``mappers`` turns rows into
domain objects and back.

Every table carries ``user_id`` (cascading from ``users``) and leads its keys with it, so each
query is scoped to one user and a PostgreSQL sharded by user_id needs no schema change.
Ciphertexts are opaque ``bytea``; the migration stores the large ones uncompressed
(``SET STORAGE EXTERNAL``) since compressing ciphertext only burns CPU.
"""

from __future__ import annotations

import uuid

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

# Deterministic constraint names: migrations can drop them and errors can be told apart.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _tz() -> DateTime:
    return DateTime(timezone=True)


def _owner() -> Column[uuid.UUID]:
    return Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)


users = Table(
    "users",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("email", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("display_name", Text),
    # Preferences, one column each: validated by the domain on load.
    Column("timezone", Text, nullable=False),
    Column("locale", Text, nullable=False),
    Column("daily_word_goal", Integer, nullable=False),
    Column("writing_reminder_time", Text),
    Column("theme_preferences", JSONB, nullable=False),
    Column("ai_features_enabled", Boolean, nullable=False),
    Column("privacy_tier", Text, nullable=False),
    # The HE public key and the CKKS parameters it was made under: all set or all null.
    Column("he_public_key", LargeBinary),
    Column("he_poly_modulus_degree", Integer),
    Column("he_coeff_mod_bit_sizes", ARRAY(Integer)),
    Column("he_scale", Double),
    Column("consent_at", _tz()),
    Column("sync_enabled_at", _tz()),
    # Refresh and access tokens issued before this moment are refused (password change).
    Column("sessions_revoked_at", _tz()),
    # The last change sequence handed out for this user (docs/DESIGN.md, versioned entries,
    # rule 7): bumped under the row lock.
    Column("change_seq", BigInteger, nullable=False, server_default=text("0")),
    # What the user's entries, conflicts and kept versions hold (reflective_domain.entries
    # stored_size and history_size),
    # kept by every write in the statement that takes its change sequence: the quota in O(1).
    Column("stored_bytes", BigInteger, nullable=False, server_default=text("0")),
    # Optimistic concurrency: a save only applies over the version it was read at.
    Column("version", Integer, nullable=False),
    Column("created_at", _tz(), nullable=False),
    Column("updated_at", _tz(), nullable=False),
    # Disabled by an administrator: no sign-in, no token accepted.
    Column("disabled", Boolean, nullable=False, server_default=text("false")),
    UniqueConstraint("email"),
    CheckConstraint(
        "privacy_tier IN ('local_only', 'analytics_sync', 'full_sync')", name="privacy_tier"
    ),
    CheckConstraint(
        "(he_public_key IS NULL AND he_poly_modulus_degree IS NULL"
        " AND he_coeff_mod_bit_sizes IS NULL AND he_scale IS NULL)"
        " OR (he_public_key IS NOT NULL AND he_poly_modulus_degree IS NOT NULL"
        " AND he_coeff_mod_bit_sizes IS NOT NULL AND he_scale IS NOT NULL)",
        name="he_key_complete",
    ),
    CheckConstraint("stored_bytes >= 0", name="stored_bytes_not_negative"),
)

tags = Table(
    "tags",
    metadata,
    _owner(),
    Column("id", Uuid, nullable=False),
    Column("name", Text, nullable=False),
    # normalise_tag_name(name): two tags are the same tag by this key. "C" collation sorts by
    # code point, as the domain (and the memory adapter) does, whatever the server's locale.
    Column("name_key", Text(collation="C"), nullable=False),
    Column("color", Text, nullable=False),
    Column("created_at", _tz(), nullable=False),
    Column("last_used_at", _tz()),
    PrimaryKeyConstraint("user_id", "id"),
    UniqueConstraint("user_id", "name_key"),
)

# An entry's current state. A tombstone keeps the row with every version column null.
entries = Table(
    "entries",
    metadata,
    _owner(),
    Column("id", Uuid, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("change_seq", BigInteger, nullable=False),
    Column("device_id", Text, nullable=False),
    Column("synced_at", _tz(), nullable=False),
    # The current version, exactly as uploaded (null for tombstones).
    Column("content", LargeBinary),
    Column("iv", LargeBinary),
    Column("tag", LargeBinary),
    Column("embedding", LargeBinary),
    Column("embedding_iv", LargeBinary),
    Column("created_at", _tz()),
    Column("updated_at", _tz()),
    Column("version_device_id", Text),
    PrimaryKeyConstraint("user_id", "id"),
    CheckConstraint("revision >= 1", name="revision_positive"),
    CheckConstraint(
        "(content IS NULL AND iv IS NULL AND tag IS NULL AND embedding IS NULL"
        " AND embedding_iv IS NULL AND created_at IS NULL AND updated_at IS NULL"
        " AND version_device_id IS NULL)"
        " OR (content IS NOT NULL AND iv IS NOT NULL AND created_at IS NOT NULL"
        " AND updated_at IS NOT NULL AND version_device_id IS NOT NULL)",
        name="version_complete",
    ),
    # The change feed reads by cursor; a sequence number belongs to one change only.
    Index("uq_entries_user_id_change_seq", "user_id", "change_seq", unique=True),
    Index(None, "user_id", "synced_at", "id"),
    # The writing streak reads only recent live entries' creation times.
    Index(
        "ix_entries_user_id_created_at",
        "user_id",
        "created_at",
        postgresql_where=text("content IS NOT NULL"),
    ),
)

# Which exact version (by fingerprint of IV + ciphertext) each revision had: retries are no-ops.
entry_revisions = Table(
    "entry_revisions",
    metadata,
    _owner(),
    Column("entry_id", Uuid, nullable=False),
    Column("fingerprint", LargeBinary, nullable=False),
    Column("revision", Integer, nullable=False),
    PrimaryKeyConstraint("user_id", "entry_id", "fingerprint"),
)

# Versions an entry had before a write replaced them (its history), ciphertext as uploaded,
# kept under the server's retention (reflective_domain.entries.Retention). They go with the
# entry row (delete-all, downgrade) and with the user.
entry_history = Table(
    "entry_history",
    metadata,
    _owner(),
    Column("entry_id", Uuid, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("iv", LargeBinary, nullable=False),
    Column("tag", LargeBinary),
    Column("device_id", Text, nullable=False),
    Column("replaced_at", _tz(), nullable=False),
    PrimaryKeyConstraint("user_id", "entry_id", "revision"),
    ForeignKeyConstraint(
        ["user_id", "entry_id"], ["entries.user_id", "entries.id"], ondelete="CASCADE"
    ),
)

conflicts = Table(
    "conflicts",
    metadata,
    _owner(),
    Column("id", Uuid, nullable=False),
    Column("entry_id", Uuid, nullable=False),
    # The version the server could not accept; the other side is the entry's current version.
    Column("local_content", LargeBinary, nullable=False),
    Column("local_iv", LargeBinary, nullable=False),
    Column("local_tag", LargeBinary),
    Column("local_embedding", LargeBinary),
    Column("local_embedding_iv", LargeBinary),
    Column("local_created_at", _tz(), nullable=False),
    Column("local_updated_at", _tz(), nullable=False),
    Column("local_device_id", Text, nullable=False),
    Column("remote_revision", Integer, nullable=False),
    Column("generation", Integer, nullable=False, server_default=text("1")),
    Column("detected_at", _tz(), nullable=False),
    Column("resolved_at", _tz()),
    Column("resolution", Text),
    PrimaryKeyConstraint("user_id", "id"),
    CheckConstraint("(resolved_at IS NULL) = (resolution IS NULL)", name="resolution_with_time"),
    CheckConstraint("resolution IN ('local', 'remote', 'merged', 'superseded')", name="resolution"),
    # At most one open conflict per entry, even under concurrent uploads.
    Index(
        "uq_conflicts_user_id_entry_id_open",
        "user_id",
        "entry_id",
        unique=True,
        postgresql_where=text("resolved_at IS NULL"),
    ),
)

# The newest revision of each entry the server has sent to each device (conflict rule 4).
deliveries = Table(
    "deliveries",
    metadata,
    _owner(),
    Column("device_id", Text, nullable=False),
    Column("entry_id", Uuid, nullable=False),
    Column("revision", Integer, nullable=False),
    PrimaryKeyConstraint("user_id", "device_id", "entry_id"),
)

metrics = Table(
    "metrics",
    metadata,
    _owner(),
    Column("id", Uuid, nullable=False),
    Column("metric_type", Text, nullable=False),
    Column("ts", _tz(), nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    # SHA-256 of (log_id, metric type, ciphertext): a resent upload is recognised, not stored.
    Column("upload_key", LargeBinary),
    # The entry the metric measures: replaced by a later upload for it, retracted with it.
    Column("log_id", Text),
    PrimaryKeyConstraint("user_id", "id"),
    Index(None, "user_id", "metric_type", "ts"),
    Index(
        "ix_metrics_user_id_log_id",
        "user_id",
        "log_id",
        postgresql_where=text("log_id IS NOT NULL"),
    ),
    Index(
        "uq_metrics_user_id_upload_key",
        "user_id",
        "upload_key",
        unique=True,
        postgresql_where=text("upload_key IS NOT NULL"),
    ),
)

# Encrypted sums per day and per month, so an aggregate adds O(periods) ciphertexts rather
# than O(metrics): a year is 12 month rollups plus at most ~60 days and 2 cut edges.
metric_rollups = Table(
    "metric_rollups",
    metadata,
    _owner(),
    Column("metric_type", Text, nullable=False),
    Column("period", Text, nullable=False),
    Column("starts_on", Date, nullable=False),
    Column("count", Integer, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    PrimaryKeyConstraint("user_id", "metric_type", "period", "starts_on"),
    CheckConstraint("period IN ('day', 'month')", name="period"),
)

# Packed metrics: per user, metric type and UTC calendar year, the encrypted slot-wise sum
# of every packed upload (slot d: day d's values, slot 366 + d: its entry count).
packed_metrics = Table(
    "packed_metrics",
    metadata,
    _owner(),
    Column("metric_type", Text, nullable=False),
    Column("year", Integer, nullable=False),
    Column("uploads", Integer, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    PrimaryKeyConstraint("user_id", "metric_type", "year"),
)

# SHA-256 of (metric type, year, ciphertext) of every packed upload added: a resent delta is
# recognised and not added twice.
packed_metric_uploads = Table(
    "packed_metric_uploads",
    metadata,
    _owner(),
    Column("upload_key", LargeBinary, nullable=False),
    PrimaryKeyConstraint("user_id", "upload_key"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", Uuid, primary_key=True),
    _owner(),
    Column("family_id", Uuid, nullable=False),
    # SHA-256 of the token: the token itself is never stored.
    Column("token_hash", LargeBinary, nullable=False),
    Column("issued_at", _tz(), nullable=False),
    Column("expires_at", _tz(), nullable=False),
    Column("used_at", _tz()),
    Column("revoked_at", _tz()),
    UniqueConstraint("token_hash"),
    Index(None, "family_id"),
    Index(None, "user_id"),
)

# The one table without user_id: failed sign-ins are counted for emails that may belong to no
# user, keyed by a SHA-256 digest of the email or client address (never the value itself).
login_attempts = Table(
    "login_attempts",
    metadata,
    Column("key", LargeBinary, primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_started_at", _tz(), nullable=False),
    Column("locked_until", _tz()),
    # Pruning counters and trust markers long past (see PasswordGate).
    Index(None, "window_started_at"),
)

# Single-use tickets that open a change-notification stream (``?ticket=`` on
# /api/sync/events, for browsers' EventSource, which cannot send a header). Only the SHA-256
# of a ticket is kept; redeeming one deletes it, so it works once whichever worker sees it.
event_tickets = Table(
    "event_tickets",
    metadata,
    Column("token_hash", LargeBinary, primary_key=True),
    _owner(),
    Column("expires_at", _tz(), nullable=False),
    Index(None, "expires_at"),
)

# One row per open event stream of any worker or instance (migration 0014), so the per-user
# cap holds across processes. ``holder``: the worker's random id; it refreshes ``seen_at`` of
# its rows on each heartbeat, and rows not refreshed for a while (a crashed worker's) stop
# counting.
event_streams = Table(
    "event_streams",
    metadata,
    Column("id", Uuid, primary_key=True),
    _owner(),
    Column("holder", Text, nullable=False),
    Column("opened_at", _tz(), nullable=False),
    Column("seen_at", _tz(), nullable=False),
    Index(None, "user_id"),
    Index(None, "holder"),
)

# Every device id that wrote or was sent entries, kept by triggers on ``entries`` and
# ``deliveries`` (migration 0009): the app issues no statement of its own for it.
sync_devices = Table(
    "sync_devices",
    metadata,
    _owner(),
    Column("device_id", Text, nullable=False),
    Column("first_seen_at", _tz(), nullable=False),
    Column("last_seen_at", _tz(), nullable=False),
    Column("entries_written", BigInteger, nullable=False, server_default=text("0")),
    PrimaryKeyConstraint("user_id", "device_id"),
)

# Sessions (a sign-in's refresh-token family) carry their name and start through rotation.
refresh_tokens.append_column(Column("device_name", Text))
refresh_tokens.append_column(Column("session_started_at", _tz()))
