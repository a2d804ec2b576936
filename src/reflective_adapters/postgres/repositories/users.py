from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import bindparam, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from reflective_adapters.postgres.integrity import violated_constraint
from reflective_adapters.postgres.mappers import state_from_row, user_from_row, user_values
from reflective_adapters.postgres.schema import users
from reflective_domain.accounts import AccountState, User
from reflective_domain.errors import ConcurrentUpdate, EmailTaken

EMAIL_TAKEN = "Email already registered"
_EMAIL_UNIQUE = "uq_users_email"

_u = users.c
_HE_COLUMNS = frozenset(
    {"he_public_key", "he_poly_modulus_degree", "he_coeff_mod_bit_sizes", "he_scale"}
)
_WITHOUT_KEY = [c for c in users.c if c.name not in _HE_COLUMNS]

# The hot statements, built once: executing them only binds parameters.
_GET = select(users).where(_u.id == bindparam("uid"))
_GET_WITHOUT_KEY = select(*_WITHOUT_KEY).where(_u.id == bindparam("uid"))
_BY_EMAIL = select(users).where(_u.email == bindparam("email"))
_BY_EMAIL_WITHOUT_KEY = select(*_WITHOUT_KEY).where(_u.email == bindparam("email"))
_STATE_COLUMNS = (
    _u.id,
    _u.privacy_tier,
    _u.sessions_revoked_at,
    _u.change_seq,
    _u.stored_bytes,
    _u.disabled,
)
_STATE = select(*_STATE_COLUMNS).where(_u.id == bindparam("uid"))
# FOR NO KEY UPDATE conflicts with every other writer's lock on the row (and with the UPDATE
# in next_change_seq) but not with the KEY SHARE lock that inserting a child row takes for its
# foreign key, so plain inserts elsewhere do not queue behind it.
_STATE_LOCKED = _STATE.with_for_update(key_share=True)
STATE_STATEMENT = _STATE  # the account's state by ``uid``, for the access token's check
_LOCK = select(_u.id).where(_u.id == bindparam("uid")).with_for_update(key_share=True)
# The UPDATE locks the row until commit: the user's writers take numbers one at a time and
# commit in that order, so a cursor never passes a number still uncommitted.
_NEXT_SEQ = (
    update(users)
    .where(_u.id == bindparam("uid"))
    .values(
        change_seq=_u.change_seq + bindparam("count"),
        stored_bytes=_u.stored_bytes + bindparam("delta"),
    )
    .returning(_u.change_seq)
)
_ADD_BYTES = (
    update(users)
    .where(_u.id == bindparam("uid"))
    .values(stored_bytes=_u.stored_bytes + bindparam("delta"))
)
_CLEAR_BYTES = (
    update(users).where(_u.id == bindparam("uid")).values(stored_bytes=bindparam("tag_bytes"))
)
_CURRENT_SEQ = select(_u.change_seq).where(_u.id == bindparam("uid"))


def _email_lock_key(email: str) -> int:
    """A 64-bit advisory-lock key for one email address."""
    return int.from_bytes(hashlib.sha256(b"email:" + email.encode()).digest()[:8], signed=True)


class PgUsers:
    def __init__(self, session: AsyncConnection) -> None:
        self._s = session
        # The version each user had when this unit of work read (or wrote) it: a save applies
        # only over that version.
        self._loaded: dict[uuid.UUID, int] = {}
        self._emails: dict[uuid.UUID, str] = {}
        # Users read without their HE key: saving them leaves the stored key alone.
        self._keyless: set[uuid.UUID] = set()

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
            raise EmailTaken(EMAIL_TAKEN)
        self._loaded[user.id] = user.version
        self._emails[user.id] = user.email

    async def get(self, user_id: uuid.UUID, *, with_he_key: bool = True) -> User | None:
        stmt = _GET if with_he_key else _GET_WITHOUT_KEY
        row = (await self._s.execute(stmt, {"uid": user_id})).first()
        return self._remember(row, with_he_key)

    async def get_by_email(self, email: str, *, with_he_key: bool = True) -> User | None:
        stmt = _BY_EMAIL if with_he_key else _BY_EMAIL_WITHOUT_KEY
        row = (await self._s.execute(stmt, {"email": email})).first()
        return self._remember(row, with_he_key)

    def _remember(self, row: object, with_he_key: bool) -> User | None:
        if row is None:
            return None
        user = user_from_row(row)
        self._loaded[user.id] = user.version
        self._emails[user.id] = user.email
        if with_he_key:
            self._keyless.discard(user.id)
        else:
            self._keyless.add(user.id)
        return user

    async def state(self, user_id: uuid.UUID, *, lock: bool = False) -> AccountState | None:
        stmt = _STATE_LOCKED if lock else _STATE
        row = (await self._s.execute(stmt, {"uid": user_id})).first()
        return state_from_row(row) if row is not None else None

    async def save(self, user: User) -> None:
        expected = self._loaded.get(user.id, user.version)
        values = user_values(user)
        del values["id"]
        if self._emails.get(user.id) != user.email:
            await self._lock_email(user.email)
            taken = select(exists().where(users.c.email == user.email, users.c.id != user.id))
            if (await self._s.execute(taken)).scalar():
                raise EmailTaken(EMAIL_TAKEN)
        if user.id in self._keyless:
            for column in _HE_COLUMNS:
                del values[column]
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
                raise EmailTaken(EMAIL_TAKEN) from None
            raise
        if row is None:
            raise ConcurrentUpdate("the account was changed by another request; try again")
        self._loaded[user.id] = user.version
        self._emails[user.id] = user.email

    async def lock(self, user_id: uuid.UUID) -> None:
        await self._s.execute(_LOCK, {"uid": user_id})

    async def next_change_seq(
        self, user_id: uuid.UUID, stored_delta: int = 0, *, count: int = 1
    ) -> int:
        params = {"uid": user_id, "delta": stored_delta, "count": count}
        seq = (await self._s.execute(_NEXT_SEQ, params)).scalar_one_or_none()
        if seq is None:
            raise LookupError("no such user")
        return int(seq)

    async def add_stored_bytes(self, user_id: uuid.UUID, delta: int) -> None:
        if delta:
            await self._s.execute(_ADD_BYTES, {"uid": user_id, "delta": delta})

    async def clear_stored_bytes(self, user_id: uuid.UUID, tag_bytes: int) -> None:
        await self._s.execute(_CLEAR_BYTES, {"uid": user_id, "tag_bytes": tag_bytes})

    async def current_change_seq(self, user_id: uuid.UUID) -> int:
        seq = (await self._s.execute(_CURRENT_SEQ, {"uid": user_id})).scalar_one_or_none()
        return int(seq or 0)

    async def delete(self, user_id: uuid.UUID) -> None:
        # Every other table cascades from users.
        await self._s.execute(users.delete().where(users.c.id == user_id))
        self._loaded.pop(user_id, None)
