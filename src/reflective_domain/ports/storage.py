"""What any storage adapter may raise besides the domain's own errors.

These live with the ports, not in ``reflective_domain.errors``: they are no business rule a
use case decides, but the storage port's way of saying "I could not do it" in words the app
understands without knowing the adapter. An adapter translates its driver's failures into
these where they surface (the PostgreSQL adapter: ``reflective_adapters.postgres.errors``);
the app answers them (503 with Retry-After, and 422) and never looks at a driver's exceptions.
"""

from __future__ import annotations

from typing import Protocol


class StorageError(Exception):
    """Base of the storage port's errors. The message says what happened in general terms;
    the driver's own exception (which may quote data) is kept as ``__cause__`` only."""


class StorageUnavailable(StorageError):
    """The store cannot be reached or did not answer in time (down, restarting, connection
    lost, pool exhausted, a statement or lock timeout): the work may succeed if retried in a
    moment. Nothing was committed by the transaction it ended."""


class UnstorableValue(StorageError):
    """The store refused a value itself (e.g. a NUL character, which PostgreSQL text cannot
    hold): bad input rather than a server fault. The transaction was rolled back, so nothing
    was written."""


class StorageProbe(Protocol):
    """Readiness: does the store answer now?"""

    async def ping(self) -> None:
        """Return when the store answers; raise (``StorageUnavailable`` or anything else)
        when it does not."""
