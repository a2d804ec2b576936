"""Fakes for the ports that are not repositories (those have real memory adapters).

Each fake really does its job, simply: the HE fake adds numbers, it does not encrypt them.
"""

from __future__ import annotations

import hashlib
import struct
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from reflective_domain.errors import AuthenticationFailed, InvalidCiphertext
from reflective_domain.he_params import CkksParameters, HePublicKey
from reflective_domain.sessions import AccessClaims

UTC = timezone.utc


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.moment = start or datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


class SequentialIds:
    def __init__(self) -> None:
        self.n = 0

    def new_id(self) -> uuid.UUID:
        self.n += 1
        return uuid.UUID(int=self.n)


class FakePasswordHasher:
    """Salted SHA-256: fast, deterministic per salt, and still never stores the password."""

    def __init__(self) -> None:
        self.burned = 0

    async def hash(self, password: str) -> str:
        salt = hashlib.sha256(password.encode() + b"salt").hexdigest()[:8]
        return salt + "$" + hashlib.sha256((salt + password).encode()).hexdigest()

    async def verify(self, password_hash: str, password: str) -> bool:
        salt, _, digest = password_hash.partition("$")
        return hashlib.sha256((salt + password).encode()).hexdigest() == digest

    async def burn(self, password: str) -> None:
        self.burned += 1


class FakeTokenService:
    """Tokens are "<user id>|<issued-at>|<serial>"; anything else is refused."""

    access_ttl_seconds = 1800

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._serial = 0

    def issue_access(self, user_id: uuid.UUID, session_id: uuid.UUID | None = None) -> str:
        self._serial += 1
        return f"{user_id}|{self._clock.now().isoformat()}|{self._serial}|{session_id or ''}"

    def read_access(self, token: str) -> AccessClaims:
        try:
            user, issued, _, session = token.split("|")
            return AccessClaims(
                uuid.UUID(user),
                datetime.fromisoformat(issued),
                uuid.UUID(session) if session else None,
            )
        except ValueError as exc:
            raise AuthenticationFailed("Could not validate credentials") from exc

    def new_refresh_token(self) -> str:
        self._serial += 1
        return f"refresh-{self._serial}"


def plain_ciphertext(value: float) -> bytes:
    """The HE fake's 'ciphertext': a tagged double."""
    return b"PHE1" + struct.pack("<d", value)


def plain_value(ciphertext: bytes) -> float:
    if len(ciphertext) != 12 or not ciphertext.startswith(b"PHE1"):
        raise InvalidCiphertext("not a fake ciphertext")
    return float(struct.unpack("<d", ciphertext[4:])[0])


class PlaintextHe:
    """Adds and scales tagged doubles: tests the use cases' bookkeeping, not the cryptography
    (the TenSEAL adapter's own tests do that)."""

    def __init__(self) -> None:
        self.additions = 0

    async def check_public_key(self, key: HePublicKey) -> None:
        if not key.data.startswith(b"PK"):
            raise InvalidCiphertext("not a public key")

    async def check_ciphertexts(self, parameters: CkksParameters, items: Sequence[bytes]) -> None:
        for index, item in enumerate(items):
            try:
                plain_value(item)
            except InvalidCiphertext as exc:
                raise InvalidCiphertext(exc.message, index) from exc

    async def admit_ciphertexts(
        self, parameters: CkksParameters, items: Sequence[bytes]
    ) -> list[bytes]:
        await self.check_ciphertexts(parameters, items)
        return list(items)

    async def for_client(self, items: Sequence[bytes]) -> list[bytes]:
        return list(items)

    async def add(self, parameters: CkksParameters, items: Sequence[bytes]) -> bytes:
        self.additions += max(len(items) - 1, 0)
        return plain_ciphertext(sum(plain_value(i) for i in items))

    async def combine(
        self, parameters: CkksParameters, plus: Sequence[bytes], minus: Sequence[bytes]
    ) -> bytes:
        self.additions += len(plus) + len(minus) - 1
        return plain_ciphertext(
            sum(plain_value(i) for i in plus) - sum(plain_value(i) for i in minus)
        )

    async def multiply_plain(self, parameters: CkksParameters, item: bytes, factor: float) -> bytes:
        return plain_ciphertext(plain_value(item) * factor)

    def serialized_context(self, parameters: CkksParameters) -> bytes:
        return b"params"
