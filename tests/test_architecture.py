"""The architecture, enforced: import direction, documented and tested hooks, public API."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import taskra_core
from taskra_core.plugins import make_plugin_manager

REPO = Path(__file__).resolve().parent.parent


def _hook_specs() -> dict[str, list[str]]:
    pm = make_plugin_manager()  # includes the shell's hookspecs via its entry point
    return {
        name: list(caller.spec.argnames)
        for name, caller in vars(pm.hook).items()
        if not name.startswith("_") and caller.spec is not None
    }


def test_importing_the_core_loads_no_web_framework() -> None:
    """`import taskra_core` (and its CLI) pulls in neither Starlette nor the shell."""
    code = (
        "import sys, taskra_core, taskra_core.cli, taskra_core.worker, taskra_core.testing\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'starlette', 'taskra_shopify', 'uvicorn'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_core_source_never_imports_the_shell() -> None:
    """No module under taskra_core imports starlette or taskra_shopify, even lazily."""
    offenders = []
    for path in (REPO / "taskra_core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in {"starlette", "taskra_shopify", "uvicorn"}:
                    offenders.append(f"{path.relative_to(REPO)}: {name}")
    assert offenders == []


def test_every_hook_is_documented_with_its_signature() -> None:
    """docs/plugin_hooks.md has a heading `name(arg, ...)` for each hook, and no stale ones."""
    doc = (REPO / "docs" / "plugin_hooks.md").read_text()
    headings = set(re.findall(r"^###\s+(\w+\([^)]*\))\s*$", doc, flags=re.MULTILINE))
    expected = {f"{name}({', '.join(args)})" for name, args in _hook_specs().items()}
    assert expected - headings == set(), "undocumented hooks"
    assert headings - expected == set(), "documented hooks that do not exist"


def test_every_hook_has_a_test() -> None:
    """Each hook has a test named test_hook_<name> somewhere under tests/."""
    found = set()
    for path in (REPO / "tests").rglob("test_*.py"):
        found |= set(re.findall(r"def test_hook_(\w+)\(", path.read_text()))
    assert set(_hook_specs()) - found == set()


def test_public_api_is_sorted_and_importable() -> None:
    """taskra_core.__all__ is sorted and every name in it exists."""
    assert taskra_core.__all__ == sorted(taskra_core.__all__)
    for name in taskra_core.__all__:
        assert getattr(taskra_core, name) is not None
