"""docs/security.md names, for each security check, the tests that prove it: each named test
must exist, so the page cannot promise what the suite no longer checks."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "security.md"
NAMED = re.compile(r"`(tests/[\w/]+\.py)(?:::(test_\w+))?`")


def test_every_test_named_in_the_security_checklist_exists() -> None:
    """Each `tests/...py::test_name` in docs/security.md is a test function in that file (a
    bare `tests/...py` must be a file), and the page names at least 25 tests."""
    named = NAMED.findall(DOC.read_text())
    missing = []
    for path, name in named:
        source = REPO / path
        if not source.is_file():
            missing.append(path)
        elif name and not re.search(rf"def {name}\(", source.read_text()):
            missing.append(f"{path}::{name}")
    assert not missing, f"docs/security.md names tests that do not exist: {missing}"
    assert sum(1 for _, name in named if name) >= 25


def test_every_security_check_row_names_a_test() -> None:
    """No row of the table is left without a test."""
    rows = [
        line for line in DOC.read_text().splitlines() if line.startswith("| ") and "---" not in line
    ]
    body = rows[1:]  # after the header
    assert body
    empty = [row.split("|")[1].strip() for row in body if not NAMED.search(row)]
    assert not empty, f"checks without a test: {empty}"
