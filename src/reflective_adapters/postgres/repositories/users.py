from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from reflective_adapters.postgres.integrity import violated_constraint
from reflective_adapters.postgres.mappers import user_from_row, user_values
from reflective_adapters.postgres.schema import users
from reflective_domain.accounts import User
from reflective_domain.errors import AlreadyExists, ConcurrentUpdate

EMAIL_TAKEN = "Email already registered"
_EMAIL_UNIQUE = "uq_users_email"


def _email_lock_key(email: str) -> int:
    """A 64-bit advisory-lock key for one email address."""
    return int.from_bytes(hashlib.sha256(b"email:" + email.encode()).digest()[:8], signed=True)


class PgUsers:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session
        # The version each user had when this unit of work read (or wrote) it: a save applies
        # only over that version.
        self._loaded: dict[uuid.UUID, int] = {}
        self._emails: dict[uuid.UUID, str] = {}

    async def _lock_email(self, email: str) -> None:
        # Registrations and email changes of one address take turns, so neither ever runs a
        # statement that fails on the unique index: a failed statement's DETAIL ("Key
        # (email)=(...) already exists") would write the address into PostgreSQL's own log.
        await self._s.execute(select(func.pg_advisory_xact_lock(_email_lock_key(email))))

    async def add(self, user: User) -> None:
        # ON CONFLICT rather than catching the violation: the transaction stays usable, and a
        # concurrent registration of the same email waits for the other to commit, then loses.
        await self._lock_email(user.email)
        stmt = (
            insert(users)
            .values(**user_values(user))
            .on_conflict_do_nothing(index_elements=[users.c.email])
            .returning(users.c.id)
        )
        if (await self._s.execute(stmt)).first() is None:
            raise AlreadyExists(EMAIL_TAKEN)
        self._loaded[user.id] = user.version
        self._emails[user.id] = user.email

    async def get(self, user_id: uuid.UUID) -> User | None:
        row = (await self._s.execute(select(users).where(users.c.id == user_id))).first()
        return self._remember(row)

    async def get_by_email(self, email: str) -> User | None:
        row = (await self._s.execute(select(users).where(users.c.email == email))).first()
        return self._remember(row)

    def _remember(self, row: object) -> User | None:
        if row is None:
            return None
        user = user_from_row(row)
        self._loaded[user.id] = user.version
        self._emails[user.id] = user.email
        return user

    async def save(self, user: User) -> None:
        expected = self._loaded.get(user.id, user.version)
        values = user_values(user)
        del values["id"]
        if self._emails.get(user.id) != user.email:
            await self._lock_email(user.email)
            taken = select(exists().where(users.c.email == user.email, users.c.id != user.id))
            if (await self._s.execute(taken)).scalar():
                raise AlreadyExists(EMAIL_TAKEN)
        stmt = (
            update(users)
            .where(users.c.id == user.id, users.c.version == expected)
            .values(**values)
            .returning(users.c.id)
        )
        try:
            # A unique violation aborts the whole transaction unless it happens in a savepoint.
            async with self._s.begin_nested():
                row = (await self._s.execute(stmt)).first()
        except IntegrityError as exc:
            if violated_constraint(exc) == _EMAIL_UNIQUE:
                raise AlreadyExists(EMAIL_TAKEN) from None
            raise
        if row is None:
            raise ConcurrentUpdate("the account was changed by another request; try again")
        self._loaded[user.id] = user.version
        self._emails[user.id] = user.email

    async def lock(self, user_id: uuid.UUID) -> None:
        # FOR NO KEY UPDATE conflicts with every other writer's lock on the row (and with the
        # UPDATE in next_change_seq) but not with the KEY SHARE lock that inserting a child row
        # takes for its foreign key, so plain inserts elsewhere do not queue behind it.
        stmt = select(users.c.id).where(users.c.id == user_id).with_for_update(key_share=True)
        await self._s.execute(stmt)

    async def next_change_seq(self, user_id: uuid.UUID) -> int:
        # The UPDATE locks the row until commit: the user's writers take numbers one at a time
        # and commit in that order, so a cursor never passes a number still uncommitted.
        stmt = (
            update(users)
            .where(users.c.id == user_id)
            .values(change_seq=users.c.change_seq + 1)
            .returning(users.c.change_seq)
        )
        seq = (await self._s.execute(stmt)).scalar_one_or_none()
        if seq is None:
            raise LookupError("no such user")
        return int(seq)

    async def current_change_seq(self, user_id: uuid.UUID) -> int:
        stmt = select(users.c.change_seq).where(users.c.id == user_id)
        seq = (await self._s.execute(stmt)).scalar_one_or_none()
        return int(seq or 0)

    async def delete(self, user_id: uuid.UUID) -> None:
        # Every other table cascades from users.
        await self._s.execute(users.delete().where(users.c.id == user_id))
        self._loaded.pop(user_id, None)
