"""Tags count against the storage quota: each tag row its name, name key and colour (UTF-8
bytes) plus the per-row overhead, added to the byte counter of accounts that have tags.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# reflective_domain.entries.ROW_OVERHEAD_BYTES and reflective_domain.tags.tag_size when this
# revision was written.
_ROW_OVERHEAD = 128
_MOVE = sa.text(
    "UPDATE users u SET stored_bytes = u.stored_bytes + :sign * (SELECT sum(:overhead"
    " + octet_length(t.name) + octet_length(t.name_key) + octet_length(t.color))"
    " FROM tags t WHERE t.user_id = u.id)"
    " WHERE EXISTS (SELECT FROM tags t WHERE t.user_id = u.id)"
)


def upgrade() -> None:
    op.execute(_MOVE.bindparams(sign=1, overhead=_ROW_OVERHEAD))


def downgrade() -> None:
    op.execute(_MOVE.bindparams(sign=-1, overhead=_ROW_OVERHEAD))
