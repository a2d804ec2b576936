"""A missing system tool skips a test on a newcomer's machine and fails it in CI."""

from __future__ import annotations

import pytest

from tests.system_tools import REQUIRE, require

ABSENT = "reflective-no-such-tool-xyz"


def outcome() -> BaseException:
    """What ``require`` raised for a tool nobody has (caught here, so neither a skip nor a
    failure ends this test on its own)."""
    try:
        require(ABSENT, package="nothing")
    except (pytest.skip.Exception, pytest.fail.Exception) as raised:
        return raised
    raise AssertionError("require() found a tool that does not exist")


@pytest.mark.parametrize("value", [None, "", "0"])
def test_a_missing_tool_skips_without_the_requirement(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv(REQUIRE, raising=False)
    else:
        monkeypatch.setenv(REQUIRE, value)
    raised = outcome()
    assert isinstance(raised, pytest.skip.Exception)
    assert f"{ABSENT} is not installed" in str(raised)


@pytest.mark.parametrize("value", ["1", "true"])
def test_a_missing_tool_fails_when_required(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(REQUIRE, value)
    raised = outcome()
    assert isinstance(raised, pytest.fail.Exception)
    assert ABSENT in str(raised) and REQUIRE in str(raised)


def test_a_present_tool_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE, "1")
    assert require(ABSENT, "sh", package="dash").endswith("/sh")
