"""Connection settings for PostgreSQL behind a pooler such as PgBouncer in transaction mode.

In transaction mode consecutive transactions of one client connection may run on different
server connections, so a prepared statement created on one may be missing (or, named the same,
already present) on another. asyncpg prepares every statement: behind such a pooler its
statement cache is turned off and each prepared statement gets a unique name, so no two
clients' statements collide on a shared server connection.

This is the one switch (``DB_PGBOUNCER=true``) that any code preparing statements of its own
must honour too: ask ``prepared_statements_allowed`` before keeping a named statement around.
"""

from __future__ import annotations

import uuid
from typing import Any


def _unique_statement_name() -> str:
    return f"__reflective_{uuid.uuid4().hex}__"


def pgbouncer_engine_options() -> dict[str, Any]:
    """Extra ``make_engine`` keyword arguments for a transaction-mode pooler."""
    return {
        "connect_args": {
            "statement_cache_size": 0,  # asyncpg's own cache
            # SQLAlchemy's asyncpg dialect keeps a cache of its own, per connection.
            "prepared_statement_cache_size": 0,
            "prepared_statement_name_func": _unique_statement_name,
        },
    }


def prepared_statements_allowed(behind_pgbouncer: bool) -> bool:
    """Whether long-lived named prepared statements may be used on a connection."""
    return not behind_pgbouncer
