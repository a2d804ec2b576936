"""Each domain error names a code of the wire protocol, and each code has one status."""

from __future__ import annotations

import reflective_domain.errors as domain_errors
from reflective_app.errors import STATUS
from reflective_domain.errors import DomainError
from reflective_protocol.errors import ErrorCode


def _domain_errors() -> list[type[DomainError]]:
    return [
        kind
        for kind in vars(domain_errors).values()
        if isinstance(kind, type) and issubclass(kind, DomainError)
    ]


def test_every_domain_error_names_a_protocol_code() -> None:
    found = _domain_errors()
    assert len(found) > 10
    for kind in found:
        assert kind.code in {c.value for c in ErrorCode}, kind


def test_each_conflict_has_a_code_of_its_own() -> None:
    conflicts = [k.code for k in _domain_errors() if STATUS[ErrorCode(k.code)] == 409]
    assert len(conflicts) == len(set(conflicts))
    assert {"email_taken", "concurrent_update", "entry_conflict", "stale_resolution"} <= set(
        conflicts
    )


def test_every_code_has_a_status() -> None:
    assert set(STATUS) == set(ErrorCode)
