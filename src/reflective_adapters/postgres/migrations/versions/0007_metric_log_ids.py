"""Metrics name the entry they measure (``log_id``), so a later upload for the entry replaces
them and deleting the entry retracts them.

Revision ID: 0007
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("metrics", sa.Column("log_id", sa.Text(), nullable=True))
    op.create_index(
        "ix_metrics_user_id_log_id",
        "metrics",
        ["user_id", "log_id"],
        unique=False,
        postgresql_where=sa.text("log_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_metrics_user_id_log_id", table_name="metrics")
    op.drop_column("metrics", "log_id")
