"""The privacy policy as shipped with Taskra (``policy.txt``, served at ``/privacy``).

:func:`clauses` splits it into the promises ``docs/privacy-controls.md`` must map to code
and tests: every line that is neither a section heading nor a lead-in ending in a colon.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

_HEADING = re.compile(r"^(\d+)\.\s+(.+)$")


@cache
def policy_text() -> str:
    """The policy's text (from the package: works from a checkout and from a wheel)."""
    return files("taskra_core.privacy").joinpath("policy.txt").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Section:
    number: int
    title: str
    lines: tuple[str, ...]


def sections() -> list[Section]:
    """The policy's numbered sections with their lines (the title line comes first)."""
    out: list[Section] = []
    for raw in policy_text().splitlines()[1:]:  # the first line is the title
        line = raw.strip()
        if not line:
            continue
        heading = _HEADING.match(line)
        if heading:
            out.append(Section(int(heading.group(1)), heading.group(2), ()))
        elif out:
            last = out[-1]
            out[-1] = Section(last.number, last.title, (*last.lines, line))
    return out


def clauses() -> list[tuple[int, str]]:
    """Every promise: (section number, the line without its bullet)."""
    return [
        (section.number, line.removeprefix("- ").strip())
        for section in sections()
        for line in section.lines
        if not line.endswith(":")
    ]
