"""Open event streams, one row each, so the per-user stream cap holds across workers and
instances: a worker claims a row when a stream opens, deletes it when the stream ends and
refreshes ``seen_at`` of its rows on each heartbeat; rows not refreshed (a crashed worker's)
stop counting and are deleted by the next claim for that user.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_streams",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_event_streams_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_streams")),
    )
    op.create_index(op.f("ix_event_streams_user_id"), "event_streams", ["user_id"], unique=False)
    op.create_index(op.f("ix_event_streams_holder"), "event_streams", ["holder"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_event_streams_holder"), table_name="event_streams")
    op.drop_index(op.f("ix_event_streams_user_id"), table_name="event_streams")
    op.drop_table("event_streams")
