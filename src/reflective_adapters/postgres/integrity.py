"""Telling constraint violations apart, so each maps to the domain error it means."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.exc import IntegrityError


def violated_constraint(exc: IntegrityError) -> str | None:
    """The name of the constraint ``exc`` reports, if the driver says."""
    # SQLAlchemy wraps asyncpg's exception (which has constraint_name) as the __cause__ of its
    # DBAPI-style one.
    for candidate in (exc.orig, getattr(exc.orig, "__cause__", None)):
        name = getattr(candidate, "constraint_name", None)
        if isinstance(name, str):
            return name
    return None


def rowcount(result: Result[Any]) -> int:
    """Rows a DML statement touched."""
    return cast(CursorResult[Any], result).rowcount
