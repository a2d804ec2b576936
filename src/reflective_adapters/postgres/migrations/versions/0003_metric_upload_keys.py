"""Metric upload keys: a resent metric (same entry, type and ciphertext) is recognised.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("metrics", sa.Column("upload_key", sa.LargeBinary(), nullable=True))
    op.create_index(
        "uq_metrics_user_id_upload_key",
        "metrics",
        ["user_id", "upload_key"],
        unique=True,
        postgresql_where=sa.text("upload_key IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_metrics_user_id_upload_key", table_name="metrics")
    op.drop_column("metrics", "upload_key")
