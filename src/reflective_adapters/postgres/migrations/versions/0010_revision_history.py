"""Encrypted revision history: the versions an entry had before a write replaced them,
ciphertext as uploaded, under the server's retention. Rows go with their entry (deleting
every entry, a downgrade) and with their user.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "entry_history",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("iv", sa.LargeBinary(), nullable=False),
        sa.Column("tag", sa.LargeBinary(), nullable=True),
        sa.Column("device_id", sa.Text(), nullable=False),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_entry_history_user_id_users",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id", "entry_id"],
            ["entries.user_id", "entries.id"],
            name="fk_entry_history_user_id_entries",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "entry_id", "revision", name="pk_entry_history"),
    )
    # Ciphertext does not compress: store it out of line as it is, as the entries' own.
    op.execute("ALTER TABLE entry_history ALTER COLUMN content SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table("entry_history")
