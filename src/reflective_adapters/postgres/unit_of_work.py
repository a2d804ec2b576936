"""The unit of work: one database transaction (one Core connection) shared by every
repository."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from reflective_adapters.postgres.errors import storage_error_for, storage_errors
from reflective_adapters.postgres.repositories import (
    PgConflicts,
    PgDeliveries,
    PgEntries,
    PgLoginAttempts,
    PgMetrics,
    PgRefreshTokens,
    PgTags,
    PgUsers,
)
from reflective_domain.ports.repositories import (
    ConflictRepository,
    DeliveryLog,
    EntryRepository,
    LoginAttemptRepository,
    MetricRepository,
    RefreshTokenRepository,
    TagRepository,
    UserRepository,
)


class SqlAlchemyUnitOfWork:
    """``async with SqlAlchemyUnitOfWork(engine) as uow: ...; await uow.commit()``.

    The repositories run Core statements on one ``AsyncConnection``: no ORM session, whose
    per-statement bookkeeping the hand-mapped repositories never use. A session factory is
    accepted too (its engine is used). Leaving the block without committing rolls back.
    Isolation is PostgreSQL's default, READ COMMITTED; writers of one user serialize on the
    user row (``users.state(lock=True)`` / ``users.lock`` / ``users.next_change_seq``), and
    uniqueness is left to constraints and ON CONFLICT.

    The driver's failures leave it as the storage port's errors (``postgres.errors``): those of
    the block's statements on the way out, and those of its own connect, commit and rollback.
    """

    users: UserRepository
    tags: TagRepository
    entries: EntryRepository
    conflicts: ConflictRepository
    deliveries: DeliveryLog
    metrics: MetricRepository
    refresh_tokens: RefreshTokenRepository
    login_attempts: LoginAttemptRepository

    def __init__(self, bind: AsyncEngine | async_sessionmaker[AsyncSession]) -> None:
        engine = bind if isinstance(bind, AsyncEngine) else bind.kw["bind"]
        if not isinstance(engine, AsyncEngine):
            raise TypeError("a unit of work needs an AsyncEngine or a session factory bound to one")
        self._engine = engine
        self._session: AsyncConnection | None = None

    async def __aenter__(self) -> SqlAlchemyUnitOfWork:
        if self._session is not None:
            raise RuntimeError("this unit of work is already in use")
        connection = self._engine.connect()
        with storage_errors():
            await connection.start()
        self._session = connection
        self._bind(connection)
        return self

    def _bind(self, session: AsyncConnection) -> None:
        # Fresh repositories also forget the user versions read by a rolled-back transaction.
        self.users = PgUsers(session)
        self.tags = PgTags(session)
        self.entries = PgEntries(session)
        self.conflicts = PgConflicts(session)
        self.deliveries = PgDeliveries(session)
        self.metrics = PgMetrics(session)
        self.refresh_tokens = PgRefreshTokens(session)
        self.login_attempts = PgLoginAttempts(session)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        if session is not None:
            # Closing rolls back whatever was not committed and returns the connection.
            with storage_errors():
                await session.close()
        translated = None if exc is None else storage_error_for(exc)
        if translated is not None:
            raise translated from exc

    @property
    def session(self) -> AsyncConnection:
        if self._session is None:
            raise RuntimeError("the unit of work is not active; use `async with`")
        return self._session

    async def commit(self) -> None:
        with storage_errors():
            await self.session.commit()

    async def rollback(self) -> None:
        with storage_errors():
            await self.session.rollback()
        self._bind(self.session)
