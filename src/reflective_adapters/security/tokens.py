"""Access tokens as HS256 JWTs; refresh tokens as opaque random strings."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections import OrderedDict
from datetime import datetime, timedelta, timezone

import jwt

from reflective_domain.errors import AuthenticationFailed
from reflective_domain.ports import Clock
from reflective_domain.sessions import AccessClaims

_ALGORITHM = "HS256"
_REQUIRED = ["exp", "iat", "sub", "jti", "iss", "aud"]
_INVALID = "Could not validate credentials"
# Tokens verified recently, by digest: a device presents the same token on every request of
# its sync loop, and verifying its signature again each time is a good share of a request.
_VERIFIED_CACHE_SIZE = 4096


class JwtTokenService:
    """Issues and verifies access tokens.

    The algorithm is pinned on decode, so a token declaring ``alg: none`` or another
    algorithm is refused. ``iat`` is a float with microseconds: the domain compares it with
    the moment a password change ended all sessions, and whole seconds would wrongly refuse a
    login made in the same second after the change.
    """

    def __init__(
        self,
        secret: str,
        issuer: str,
        audience: str,
        access_ttl_seconds: int,
        clock: Clock,
    ) -> None:
        if not secret:
            raise ValueError("the token secret must not be empty")
        if access_ttl_seconds < 1:
            raise ValueError("access_ttl_seconds must be positive")
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self._ttl = access_ttl_seconds
        self._clock = clock
        # digest of a token -> (its claims, its expiry as a POSIX timestamp)
        self._verified: OrderedDict[bytes, tuple[AccessClaims, float]] = OrderedDict()

    def __repr__(self) -> str:
        return f"JwtTokenService(issuer={self._issuer!r}, ttl={self._ttl}s, secret=<hidden>)"

    @property
    def access_ttl_seconds(self) -> int:
        return self._ttl

    def issue_access(self, user_id: uuid.UUID, session_id: uuid.UUID | None = None) -> str:
        now = self._clock.now()
        claims: dict[str, object] = {
            "sub": str(user_id),
            "iat": now.timestamp(),
            "exp": (now + timedelta(seconds=self._ttl)).timestamp(),
            "jti": secrets.token_urlsafe(16),
            "iss": self._issuer,
            "aud": self._audience,
        }
        if session_id is not None:
            claims["sid"] = str(session_id)
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    def read_access(self, token: str) -> AccessClaims:
        """A token seen before (its exact bytes, by digest) is not verified again, but its
        expiry is checked every time, as a first verification would."""
        digest = hashlib.blake2b(token.encode(), digest_size=20).digest()
        known = self._verified.get(digest)
        if known is not None:
            claims, expires = known
            if time.time() < expires:
                self._verified.move_to_end(digest)
                return claims
            del self._verified[digest]
            raise AuthenticationFailed(_INVALID)
        verified, expires = self._verify(token)
        self._verified[digest] = (verified, expires)
        if len(self._verified) > _VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return verified

    def _verify(self, token: str) -> tuple[AccessClaims, float]:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": _REQUIRED},
            )
            issued = claims["iat"]
            if isinstance(issued, bool) or not isinstance(issued, (int, float)):
                raise AuthenticationFailed(_INVALID)
            expires = claims["exp"]
            if isinstance(expires, bool) or not isinstance(expires, (int, float)):
                raise AuthenticationFailed(_INVALID)
            session = claims.get("sid")
            verified = AccessClaims(
                user_id=uuid.UUID(str(claims["sub"])),
                issued_at=datetime.fromtimestamp(issued, timezone.utc),
                session_id=uuid.UUID(str(session)) if session is not None else None,
            )
            return verified, float(expires)
        except (jwt.PyJWTError, ValueError, TypeError, OverflowError) as exc:
            # Never say which check failed: that helps an attacker tune forgeries.
            raise AuthenticationFailed(_INVALID) from exc

    def new_refresh_token(self) -> str:
        return secrets.token_urlsafe(32)
