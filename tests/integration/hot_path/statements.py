"""Counting the SQL statements a request sends to PostgreSQL, BEGIN/COMMIT/ROLLBACK and pool
pings included.

SQLAlchemy's ``before_cursor_execute`` sees every statement the app builds; transaction
control and the pool's pre-ping go to asyncpg directly (``Connection.execute`` for BEGIN,
COMMIT and ROLLBACK, ``fetchrow(";")`` for a ping), so those asyncpg methods are counted too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

_DIRECT = ("execute", "fetch", "fetchrow", "fetchval")


@dataclass
class StatementLog:
    statements: list[str] = field(default_factory=list)

    def clear(self) -> None:
        self.statements.clear()

    @property
    def count(self) -> int:
        return len(self.statements)

    def describe(self) -> str:
        return "\n".join(" ".join(s.split())[:140] for s in self.statements)


@contextmanager
def counting_statements(engine: AsyncEngine) -> Iterator[StatementLog]:
    log = StatementLog()
    originals = {name: getattr(asyncpg.Connection, name) for name in _DIRECT}

    def on_execute(
        _conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
    ) -> None:
        log.statements.append(statement)

    def counted(original: Any) -> Any:
        def wrapper(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            log.statements.append(query)
            return original(self, query, *args, **kwargs)

        return wrapper

    for name, original in originals.items():
        setattr(asyncpg.Connection, name, counted(original))
    event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    try:
        yield log
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", on_execute)
        for name, original in originals.items():
            setattr(asyncpg.Connection, name, original)
