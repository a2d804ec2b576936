"""What a server administrator does to accounts (the ``reflective users`` commands).

Creating an account is ``Register``, which works whether or not public registration is open.
"""

from __future__ import annotations

from collections.abc import Sequence

from reflective_domain.accounts import User, normalise_email
from reflective_domain.errors import NotFound
from reflective_domain.ports import Clock, UnitOfWork
from reflective_domain.ports.directory import UserDirectory
from reflective_domain.ports.unit_of_work import UnitOfWorkFactory

NO_SUCH_USER = "No account with that email"


async def _by_email(uow: UnitOfWork, email: str) -> User:
    user = await uow.users.get_by_email(normalise_email(email))
    if user is None:
        raise NotFound(NO_SUCH_USER)
    return user


class ListUsers:
    def __init__(self, directory: UserDirectory) -> None:
        self._directory = directory

    async def __call__(self, after_email: str | None = None, limit: int = 100) -> Sequence[User]:
        return await self._directory.list_users(after_email=after_email, limit=limit)


class FindUser:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(self, email: str) -> User:
        async with self._uow() as uow:
            return await _by_email(uow, email)


class SetUserDisabled:
    """Disable (every session ends, sign-in refused) or enable an account."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow, self._clock = uow, clock

    async def __call__(self, email: str, disabled: bool = True) -> User:
        now = self._clock.now()
        async with self._uow() as uow:
            user = await _by_email(uow, email)
            if disabled:
                user.disable(now)
                await uow.refresh_tokens.revoke_all(user.id, now)
            else:
                user.enable(now)
            await uow.users.save(user)
            await uow.commit()
        return user


class DeleteUser:
    """Delete an account and everything stored for it."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(self, email: str) -> User:
        async with self._uow() as uow:
            user = await _by_email(uow, email)
            await uow.users.delete(user.id)
            await uow.commit()
        return user
