"""Debian tools some tests run for real (chromium, nginx, pgbouncer). Without one a test
skips, saying why; with REFLECTIVE_REQUIRE_SYSTEM_TOOLS set (.ci/run sets it) it fails, so
a failed install in CI shows up as red, not as a quiet skip."""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE = "REFLECTIVE_REQUIRE_SYSTEM_TOOLS"


def find(*names: str) -> str | None:
    """The first of ``names`` on PATH or in the sbin directories (nginx and pgbouncer live in
    /usr/sbin, which an ordinary user's PATH lacks)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    for name in names:
        found = shutil.which(name, path=path)
        if found is not None:
            return found
    return None


def required() -> bool:
    return os.environ.get(REQUIRE, "").strip().lower() not in ("", "0", "false", "no")


def require(*names: str, package: str) -> str:
    """The path of the first of ``names``; else skip, or fail when REFLECTIVE_REQUIRE_SYSTEM_TOOLS
    is set, naming the missing binary and the Debian package that has it."""
    binary = find(*names)
    if binary is not None:
        return binary
    missing = f"{' or '.join(names)} is not installed (Debian package {package!r})"
    if required():
        pytest.fail(f"{missing}, and {REQUIRE} is set: install it", pytrace=False)
    pytest.skip(f"{missing}; .ci/run installs it")
