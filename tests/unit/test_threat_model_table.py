"""The README's threat model names, for each control, the tests that show it: they must exist."""

from __future__ import annotations

import re

from functions.registry import ROOT

SECTION = "## Security: the threat model"


def _table() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(SECTION)
    end = readme.index("\n## ", start + len(SECTION))
    return readme[start:end]


def test_every_test_the_threat_model_names_exists() -> None:
    # Given the tests the threat model's rows name
    rows = [line for line in _table().splitlines() if line.startswith("| ") and "---" not in line][1:]
    named = {name for row in rows for name in re.findall(r"`(test_[a-z0-9_]+)`", row)}
    # and every test function in the suite
    defined = {
        match
        for path in (ROOT / "tests").rglob("test_*.py")
        for match in re.findall(r"^def (test_[a-z0-9_]+)\(", path.read_text(encoding="utf-8"), re.M)
    }

    # Then each row names at least one test, and each named test is one the suite runs
    assert len(rows) >= 10
    assert all(re.search(r"`test_", row) for row in rows)
    assert sorted(named - defined) == []
