"""One repository per port, each bound to the unit of work's session."""

from reflective_adapters.postgres.repositories.conflicts import PgConflicts
from reflective_adapters.postgres.repositories.deliveries import PgDeliveries
from reflective_adapters.postgres.repositories.entries import PgEntries
from reflective_adapters.postgres.repositories.login_attempts import PgLoginAttempts
from reflective_adapters.postgres.repositories.metrics import PgMetrics
from reflective_adapters.postgres.repositories.packed_metrics import PgPackedMetrics
from reflective_adapters.postgres.repositories.refresh_tokens import PgRefreshTokens
from reflective_adapters.postgres.repositories.tags import PgTags
from reflective_adapters.postgres.repositories.users import PgUsers

__all__ = [
    "PgConflicts",
    "PgDeliveries",
    "PgEntries",
    "PgLoginAttempts",
    "PgMetrics",
    "PgPackedMetrics",
    "PgRefreshTokens",
    "PgTags",
    "PgUsers",
]
