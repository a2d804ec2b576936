"""The README's configuration reference lists every setting exactly once, and .env.example
mentions each."""

from __future__ import annotations

import re
from pathlib import Path

from reflective_app.settings import environment_variables

ROOT = Path(__file__).parents[2]


def setting_names() -> set[str]:
    return set(environment_variables().values())


def reference_rows() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Configuration reference", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([A-Z_]+)` \|", section, re.MULTILINE)


def test_readme_reference_lists_every_setting_once() -> None:
    rows = reference_rows()
    assert sorted(rows) == sorted(set(rows)), "a setting is listed twice"
    assert set(rows) == setting_names()


def test_env_example_mentions_every_setting() -> None:
    example = (ROOT / ".env.example").read_text()
    missing = [name for name in setting_names() if not re.search(rf"\b{name}=", example)]
    assert missing == []
