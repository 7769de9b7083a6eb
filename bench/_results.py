"""Figures a benchmark reports, for ``bench/run.py`` to collect into docs/performance.md.

Each benchmark still prints its own table; :func:`record` also appends one JSON line per
figure to the file named by ``TASKRA_BENCH_RESULTS`` (set by the runner), and does nothing
when it is unset.
"""

from __future__ import annotations

import json
import os
from typing import Any


def record(
    bench: str,
    figure: str,
    value: float,
    unit: str,
    *,
    budget: str,
    met: bool | None,
    baseline: float | None = None,
    baseline_label: str = "",
    **extra: Any,
) -> None:
    """One figure: its value, its budget (as text), whether it is met, and the baseline
    measured in the same run (the ratio is computed here)."""
    path = os.environ.get("TASKRA_BENCH_RESULTS")
    if not path:
        return
    row = {
        "bench": bench,
        "figure": figure,
        "value": round(value, 3),
        "unit": unit,
        "budget": budget,
        "met": met,
        "baseline": None if baseline is None else round(baseline, 3),
        "baseline_label": baseline_label,
        "ratio": None if not baseline else round(value / baseline, 3),
        **extra,
    }
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")
