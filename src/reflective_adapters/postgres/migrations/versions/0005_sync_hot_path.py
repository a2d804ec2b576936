"""Sync hot path: a per-user byte counter for the storage quota (entries and conflicts, each
row counting a fixed overhead beyond its ciphertexts), filled from what is stored; an index
for the writing streak's recent entries.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# reflective_domain.entries.ROW_OVERHEAD_BYTES when this revision was written.
_ROW_OVERHEAD = 128


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("stored_bytes", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_users_stored_bytes_not_negative"), "users", "stored_bytes >= 0"
    )
    op.execute(
        sa.text(
            "UPDATE users u SET stored_bytes ="
            " coalesce((SELECT sum(:overhead + coalesce(octet_length(e.content), 0)"
            " + coalesce(octet_length(e.embedding), 0)) FROM entries e"
            " WHERE e.user_id = u.id), 0)"
            " + coalesce((SELECT sum(:overhead + octet_length(c.local_content)"
            " + coalesce(octet_length(c.local_embedding), 0)) FROM conflicts c"
            " WHERE c.user_id = u.id), 0)"
        ).bindparams(overhead=_ROW_OVERHEAD)
    )
    op.create_index(
        "ix_entries_user_id_created_at",
        "entries",
        ["user_id", "created_at"],
        postgresql_where=sa.text("content IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_entries_user_id_created_at", table_name="entries")
    op.drop_constraint(op.f("ck_users_stored_bytes_not_negative"), "users", type_="check")
    op.drop_column("users", "stored_bytes")
