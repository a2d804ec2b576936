"""Password hashing (argon2id) and access tokens (JWT, HS256)."""

from reflective_adapters.security.passwords import Argon2PasswordHasher
from reflective_adapters.security.tokens import JwtTokenService

__all__ = ["Argon2PasswordHasher", "JwtTokenService"]
