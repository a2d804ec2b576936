"""PostgreSQL adapter: SQLAlchemy 2 async (asyncpg) repositories, unit of work, Alembic
migrations and an embedded server for running without a DATABASE_URL.

Import what you need from the submodules; nothing here connects or starts anything on import.
"""

from reflective_adapters.postgres.engine import make_engine, make_session_factory
from reflective_adapters.postgres.unit_of_work import SqlAlchemyUnitOfWork
from reflective_adapters.postgres.urls import to_async_url

__all__ = ["SqlAlchemyUnitOfWork", "make_engine", "make_session_factory", "to_async_url"]
