"""Handler annotations for what the app injects.

Explicit markers (Litestar 2.23+): ``NamedDependency`` names a dependency, ``SkipValidation``
keeps Litestar from re-validating objects the container built (dataclasses and Protocols
would fail its msgspec conversion).
"""

from __future__ import annotations

import uuid

from litestar.di import NamedDependency
from litestar.params import SkipValidation

from reflective_app.settings import Settings
from reflective_domain.he_params import CkksParameters
from reflective_domain.ports import Clock, HeAggregator, StorageProbe
from reflective_domain.sessions import AccessClaims

UserId = NamedDependency[uuid.UUID]
"""The authenticated user (``Authorization: Bearer``); 401 without a valid token."""

Caller = NamedDependency[SkipValidation[AccessClaims]]
"""The bearer token's verified claims, for routes whose use case checks the account itself
(in the request's one transaction); 401 for a missing, forged or expired token."""

SettingsDep = NamedDependency[SkipValidation[Settings]]
ClockDep = NamedDependency[SkipValidation[Clock]]
ParametersDep = NamedDependency[SkipValidation[CkksParameters]]
AggregatorDep = NamedDependency[SkipValidation[HeAggregator]]
DatabaseDep = NamedDependency[SkipValidation[StorageProbe]]
