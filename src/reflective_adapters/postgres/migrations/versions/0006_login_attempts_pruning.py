"""Login attempts pruning: an index on window_started_at, so stale counters (sign-in failures,
rate limits, trusted-address markers) can be deleted a batch at a time.

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_login_attempts_window_started_at"),
        "login_attempts",
        ["window_started_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_login_attempts_window_started_at"), table_name="login_attempts")
