"""Access tokens verified once are remembered (by digest) until they expire: a cached token
is still refused after its expiry, and a forged one is never remembered."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone

import pytest

from reflective_adapters.security import JwtTokenService
from reflective_adapters.security import tokens as tokens_module
from reflective_domain.errors import AuthenticationFailed

SECRET = "unit-test-secret-" + "y" * 40


class _Clock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class _Time:
    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset


def test_a_remembered_token_is_still_refused_once_expired(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = _Time()
    monkeypatch.setattr(tokens_module, "time", fake)
    service = JwtTokenService(SECRET, "iss", "aud", 60, _Clock())
    user_id = uuid.uuid4()
    token = service.issue_access(user_id)
    first = service.read_access(token)
    assert first.user_id == user_id
    assert service.read_access(token) == first  # from the cache
    fake.offset = 61
    with pytest.raises(AuthenticationFailed):
        service.read_access(token)
    assert not service._verified  # forgotten: a later read verifies it again


def test_a_forged_token_is_refused_every_time() -> None:
    service = JwtTokenService(SECRET, "iss", "aud", 60, _Clock())
    forged = service.issue_access(uuid.uuid4())[:-2] + "AA"
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            service.read_access(forged)


def test_the_cache_is_bounded() -> None:
    service = JwtTokenService(SECRET, "iss", "aud", 60, _Clock())
    for _ in range(tokens_module._VERIFIED_CACHE_SIZE + 10):
        service.read_access(service.issue_access(uuid.uuid4()))
    assert len(service._verified) == tokens_module._VERIFIED_CACHE_SIZE
