"""Initial schema.

Users, tags, entries (with revision fingerprints, conflicts and deliveries), encrypted metrics
(with daily rollups) and refresh tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STORE_UNCOMPRESSED = (
    "ALTER TABLE users ALTER COLUMN he_public_key SET STORAGE EXTERNAL",
    "ALTER TABLE entries ALTER COLUMN content SET STORAGE EXTERNAL",
    "ALTER TABLE entries ALTER COLUMN embedding SET STORAGE EXTERNAL",
    "ALTER TABLE conflicts ALTER COLUMN local_content SET STORAGE EXTERNAL",
    "ALTER TABLE conflicts ALTER COLUMN local_embedding SET STORAGE EXTERNAL",
    "ALTER TABLE metrics ALTER COLUMN ciphertext SET STORAGE EXTERNAL",
    "ALTER TABLE metric_rollups ALTER COLUMN ciphertext SET STORAGE EXTERNAL",
)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("timezone", sa.Text(), nullable=False),
        sa.Column("locale", sa.Text(), nullable=False),
        sa.Column("daily_word_goal", sa.Integer(), nullable=False),
        sa.Column("writing_reminder_time", sa.Text(), nullable=True),
        sa.Column("theme_preferences", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("ai_features_enabled", sa.Boolean(), nullable=False),
        sa.Column("privacy_tier", sa.Text(), nullable=False),
        sa.Column("he_public_key", sa.LargeBinary(), nullable=True),
        sa.Column("he_poly_modulus_degree", sa.Integer(), nullable=True),
        sa.Column("he_coeff_mod_bit_sizes", postgresql.ARRAY(sa.Integer()), nullable=True),
        sa.Column("he_scale", sa.Double(), nullable=True),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sync_enabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sessions_revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("change_seq", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "privacy_tier IN ('local_only', 'analytics_sync', 'full_sync')",
            name=op.f("ck_users_privacy_tier"),
        ),
        sa.CheckConstraint(
            "(he_public_key IS NULL AND he_poly_modulus_degree IS NULL"
            " AND he_coeff_mod_bit_sizes IS NULL AND he_scale IS NULL)"
            " OR (he_public_key IS NOT NULL AND he_poly_modulus_degree IS NOT NULL"
            " AND he_coeff_mod_bit_sizes IS NOT NULL AND he_scale IS NOT NULL)",
            name=op.f("ck_users_he_key_complete"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "conflicts",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("local_content", sa.LargeBinary(), nullable=False),
        sa.Column("local_iv", sa.LargeBinary(), nullable=False),
        sa.Column("local_tag", sa.LargeBinary(), nullable=True),
        sa.Column("local_embedding", sa.LargeBinary(), nullable=True),
        sa.Column("local_embedding_iv", sa.LargeBinary(), nullable=True),
        sa.Column("local_created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("local_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("local_device_id", sa.Text(), nullable=False),
        sa.Column("remote_revision", sa.Integer(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "resolution IN ('local', 'remote', 'merged', 'superseded')",
            name=op.f("ck_conflicts_resolution"),
        ),
        sa.CheckConstraint(
            "(resolved_at IS NULL) = (resolution IS NULL)",
            name=op.f("ck_conflicts_resolution_with_time"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_conflicts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "id", name=op.f("pk_conflicts")),
    )
    op.create_index(
        "uq_conflicts_user_id_entry_id_open",
        "conflicts",
        ["user_id", "entry_id"],
        unique=True,
        postgresql_where=sa.text("resolved_at IS NULL"),
    )
    op.create_table(
        "deliveries",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Text(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_deliveries_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "device_id", "entry_id", name=op.f("pk_deliveries")),
    )
    op.create_table(
        "entries",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.Column("device_id", sa.Text(), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("iv", sa.LargeBinary(), nullable=True),
        sa.Column("tag", sa.LargeBinary(), nullable=True),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("embedding_iv", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version_device_id", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "(content IS NULL AND iv IS NULL AND tag IS NULL AND embedding IS NULL"
            " AND embedding_iv IS NULL AND created_at IS NULL AND updated_at IS NULL"
            " AND version_device_id IS NULL)"
            " OR (content IS NOT NULL AND iv IS NOT NULL AND created_at IS NOT NULL"
            " AND updated_at IS NOT NULL AND version_device_id IS NOT NULL)",
            name=op.f("ck_entries_version_complete"),
        ),
        sa.CheckConstraint("revision >= 1", name=op.f("ck_entries_revision_positive")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_entries_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "id", name=op.f("pk_entries")),
    )
    op.create_index(
        op.f("ix_entries_user_id_synced_at_id"),
        "entries",
        ["user_id", "synced_at", "id"],
        unique=False,
    )
    op.create_index(
        "uq_entries_user_id_change_seq", "entries", ["user_id", "change_seq"], unique=True
    )
    op.create_table(
        "entry_revisions",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_entry_revisions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "entry_id", "fingerprint", name=op.f("pk_entry_revisions")
        ),
    )
    op.create_table(
        "metric_rollups",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("metric_type", sa.Text(), nullable=False),
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("period IN ('day', 'month')", name=op.f("ck_metric_rollups_period")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_metric_rollups_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "metric_type", "period", "starts_on", name=op.f("pk_metric_rollups")
        ),
    )
    op.create_table(
        "metrics",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("metric_type", sa.Text(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_metrics_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "id", name=op.f("pk_metrics")),
    )
    op.create_index(
        op.f("ix_metrics_user_id_metric_type_ts"),
        "metrics",
        ["user_id", "metric_type", "ts"],
        unique=False,
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_refresh_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
    )
    op.create_index(
        op.f("ix_refresh_tokens_family_id"), "refresh_tokens", ["family_id"], unique=False
    )
    op.create_index(op.f("ix_refresh_tokens_user_id"), "refresh_tokens", ["user_id"], unique=False)
    op.create_table(
        "tags",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_key", sa.Text(collation="C"), nullable=False),
        sa.Column("color", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_tags_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "id", name=op.f("pk_tags")),
        sa.UniqueConstraint("user_id", "name_key", name=op.f("uq_tags_user_id_name_key")),
    )
    # Ciphertexts and SEAL keys do not compress: keep them out of line without trying to.
    for statement in _STORE_UNCOMPRESSED:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("tags")
    op.drop_index(op.f("ix_refresh_tokens_user_id"), table_name="refresh_tokens")
    op.drop_index(op.f("ix_refresh_tokens_family_id"), table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_index(op.f("ix_metrics_user_id_metric_type_ts"), table_name="metrics")
    op.drop_table("metrics")
    op.drop_table("metric_rollups")
    op.drop_table("entry_revisions")
    op.drop_index("uq_entries_user_id_change_seq", table_name="entries")
    op.drop_index(op.f("ix_entries_user_id_synced_at_id"), table_name="entries")
    op.drop_table("entries")
    op.drop_table("deliveries")
    op.drop_index(
        "uq_conflicts_user_id_entry_id_open",
        table_name="conflicts",
        postgresql_where=sa.text("resolved_at IS NULL"),
    )
    op.drop_table("conflicts")
    op.drop_table("users")
