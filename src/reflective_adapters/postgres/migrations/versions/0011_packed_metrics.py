"""Packed metrics: one encrypted year of one metric type per row, and the keys of the
packed uploads added to it (a resent upload is recognised).

Revision ID: 0011
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "packed_metrics",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("metric_type", sa.Text(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("uploads", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_packed_metrics_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "metric_type", "year", name=op.f("pk_packed_metrics")),
    )
    # zstd-compressed ciphertext: compressing it again only burns CPU (as 0001 does).
    op.execute("ALTER TABLE packed_metrics ALTER COLUMN ciphertext SET STORAGE EXTERNAL")
    op.create_table(
        "packed_metric_uploads",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("upload_key", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_packed_metric_uploads_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "upload_key", name=op.f("pk_packed_metric_uploads")),
    )


def downgrade() -> None:
    op.drop_table("packed_metric_uploads")
    op.drop_table("packed_metrics")
