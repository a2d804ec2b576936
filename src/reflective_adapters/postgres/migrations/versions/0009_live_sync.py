"""Live sync: change notifications (NOTIFY from triggers), event-stream tickets, sessions
(device name and start on refresh tokens) and the devices a user's entries went to and from.

The notifications are sent by triggers, in the writing transaction, so PostgreSQL delivers
them at its commit and never for a rolled-back write; the app issues no statement for them.
Payloads carry a user id and a sequence number only, never data.

Revision ID: 0009
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Channels (reflective_adapters.postgres.live listens on the same): reflective_changes and
# reflective_conflicts carry "<user id>:<change_seq>", reflective_metrics "<user id>".

_FUNCTIONS = """
CREATE FUNCTION reflective_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('reflective_changes', NEW.id::text || ':' || NEW.change_seq::text);
  RETURN NULL;
END $$;

CREATE FUNCTION reflective_notify_conflict() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('reflective_conflicts', NEW.user_id::text || ':' || u.change_seq::text)
    FROM users u WHERE u.id = NEW.user_id;
  RETURN NULL;
END $$;

CREATE FUNCTION reflective_notify_metrics() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('reflective_metrics', c.user_id::text)
    FROM (SELECT DISTINCT user_id FROM changed_metrics) c;
  RETURN NULL;
END $$;

CREATE FUNCTION reflective_devices_from_entries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO sync_devices AS d (user_id, device_id, first_seen_at, last_seen_at,
                                 entries_written)
  SELECT user_id, device_id, now(), now(), count(*) FROM changed_entries
   GROUP BY user_id, device_id
  ON CONFLICT (user_id, device_id) DO UPDATE
     SET last_seen_at = EXCLUDED.last_seen_at,
         entries_written = d.entries_written + EXCLUDED.entries_written;
  RETURN NULL;
END $$;

CREATE FUNCTION reflective_devices_from_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO sync_devices AS d (user_id, device_id, first_seen_at, last_seen_at,
                                 entries_written)
  SELECT DISTINCT user_id, device_id, now(), now(), 0 FROM changed_deliveries
  ON CONFLICT (user_id, device_id) DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at;
  RETURN NULL;
END $$;
"""

_TRIGGERS = """
CREATE TRIGGER users_notify_change AFTER UPDATE OF change_seq ON users
  FOR EACH ROW WHEN (NEW.change_seq IS DISTINCT FROM OLD.change_seq)
  EXECUTE FUNCTION reflective_notify_change();

CREATE TRIGGER conflicts_notify AFTER INSERT OR UPDATE ON conflicts
  FOR EACH ROW EXECUTE FUNCTION reflective_notify_conflict();

CREATE TRIGGER metrics_notify_insert AFTER INSERT ON metrics
  REFERENCING NEW TABLE AS changed_metrics
  FOR EACH STATEMENT EXECUTE FUNCTION reflective_notify_metrics();

CREATE TRIGGER metrics_notify_delete AFTER DELETE ON metrics
  REFERENCING OLD TABLE AS changed_metrics
  FOR EACH STATEMENT EXECUTE FUNCTION reflective_notify_metrics();

CREATE TRIGGER entries_devices_insert AFTER INSERT ON entries
  REFERENCING NEW TABLE AS changed_entries
  FOR EACH STATEMENT EXECUTE FUNCTION reflective_devices_from_entries();

CREATE TRIGGER entries_devices_update AFTER UPDATE ON entries
  REFERENCING NEW TABLE AS changed_entries
  FOR EACH STATEMENT EXECUTE FUNCTION reflective_devices_from_entries();

CREATE TRIGGER deliveries_devices_insert AFTER INSERT ON deliveries
  REFERENCING NEW TABLE AS changed_deliveries
  FOR EACH STATEMENT EXECUTE FUNCTION reflective_devices_from_deliveries();

CREATE TRIGGER deliveries_devices_update AFTER UPDATE ON deliveries
  REFERENCING NEW TABLE AS changed_deliveries
  FOR EACH STATEMENT EXECUTE FUNCTION reflective_devices_from_deliveries();
"""

_BACKFILL = """
INSERT INTO sync_devices (user_id, device_id, first_seen_at, last_seen_at, entries_written)
SELECT user_id, device_id, min(seen), max(seen), sum(written) FROM (
  SELECT user_id, device_id, synced_at AS seen, 1 AS written FROM entries
  UNION ALL
  SELECT user_id, device_id, now(), 0 FROM deliveries
) s GROUP BY user_id, device_id;
"""

_DROP = """
DROP TRIGGER IF EXISTS deliveries_devices_update ON deliveries;
DROP TRIGGER IF EXISTS deliveries_devices_insert ON deliveries;
DROP TRIGGER IF EXISTS entries_devices_update ON entries;
DROP TRIGGER IF EXISTS entries_devices_insert ON entries;
DROP TRIGGER IF EXISTS metrics_notify_delete ON metrics;
DROP TRIGGER IF EXISTS metrics_notify_insert ON metrics;
DROP TRIGGER IF EXISTS conflicts_notify ON conflicts;
DROP TRIGGER IF EXISTS users_notify_change ON users;
DROP FUNCTION IF EXISTS reflective_devices_from_deliveries();
DROP FUNCTION IF EXISTS reflective_devices_from_entries();
DROP FUNCTION IF EXISTS reflective_notify_metrics();
DROP FUNCTION IF EXISTS reflective_notify_conflict();
DROP FUNCTION IF EXISTS reflective_notify_change();
"""


def _statements(script: str) -> list[str]:
    """Split on blank lines: each block is one statement (function bodies hold semicolons)."""
    return [block.strip() for block in script.split("\n\n") if block.strip()]


def upgrade() -> None:
    op.add_column("refresh_tokens", sa.Column("device_name", sa.Text(), nullable=True))
    op.add_column(
        "refresh_tokens",
        sa.Column("session_started_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "event_tickets",
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_event_tickets_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_event_tickets")),
    )
    op.create_index(
        op.f("ix_event_tickets_expires_at"), "event_tickets", ["expires_at"], unique=False
    )
    op.create_table(
        "sync_devices",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Text(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entries_written", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_sync_devices_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "device_id", name=op.f("pk_sync_devices")),
    )
    op.execute(_BACKFILL)
    for statement in _statements(_FUNCTIONS) + _statements(_TRIGGERS):
        op.execute(statement)


def downgrade() -> None:
    for statement in _DROP.split(";"):
        if statement.strip():
            op.execute(statement.strip())
    op.drop_table("sync_devices")
    op.drop_index(op.f("ix_event_tickets_expires_at"), table_name="event_tickets")
    op.drop_table("event_tickets")
    op.drop_column("refresh_tokens", "session_started_at")
    op.drop_column("refresh_tokens", "device_name")
