"""Packed metrics notify live streams as the per-row metrics do (migration 0009): a packed
upload, or a bulk delete of a user who only has packed metrics, sends ``reflective_metrics``
with the user id, at commit, from the writing transaction.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One trigger per event: PostgreSQL allows transition tables only on single-event triggers.
# An upload is INSERT .. ON CONFLICT DO UPDATE, which fires both the insert and the update.
_TRIGGERS = (
    "CREATE TRIGGER packed_metrics_notify_insert AFTER INSERT ON packed_metrics "
    "REFERENCING NEW TABLE AS changed_metrics "
    "FOR EACH STATEMENT EXECUTE FUNCTION reflective_notify_metrics()",
    "CREATE TRIGGER packed_metrics_notify_update AFTER UPDATE ON packed_metrics "
    "REFERENCING NEW TABLE AS changed_metrics "
    "FOR EACH STATEMENT EXECUTE FUNCTION reflective_notify_metrics()",
    "CREATE TRIGGER packed_metrics_notify_delete AFTER DELETE ON packed_metrics "
    "REFERENCING OLD TABLE AS changed_metrics "
    "FOR EACH STATEMENT EXECUTE FUNCTION reflective_notify_metrics()",
)


def upgrade() -> None:
    for statement in _TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    for name in ("delete", "update", "insert"):
        op.execute(f"DROP TRIGGER IF EXISTS packed_metrics_notify_{name} ON packed_metrics")
