"""A real third-party plugin: a distribution built and installed in the test, then loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PLUGIN_SOURCE = """
from taskra_core import hookimpl

@hookimpl
def register_jobs(register):
    register("acme.ping", ping)

async def ping(ctx):
    return None
"""

PYPROJECT = """
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "taskra-acme"
version = "1.2.3"

[project.entry-points.taskra]
acme = "taskra_acme"
"""


def test_installed_distribution_is_loaded_through_its_entry_point(tmp_path: Path) -> None:
    """pip-installing a tiny plugin makes `taskra plugins --json` list it with its hooks."""
    source = tmp_path / "src"
    (source / "taskra_acme").mkdir(parents=True)
    (source / "taskra_acme" / "__init__.py").write_text(PLUGIN_SOURCE)
    (source / "pyproject.toml").write_text(PYPROJECT)
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [sys.executable, "-m", "taskra_core", "plugins", "--json"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    plugins = {p["name"]: p for p in json.loads(out.stdout)}
    assert plugins["acme"]["hooks"] == ["register_jobs"]
    assert plugins["acme"]["distribution"] == "taskra-acme"
    assert plugins["acme"]["version"] == "1.2.3"

    disabled = subprocess.run(
        [sys.executable, "-m", "taskra_core", "plugins", "--json"],
        check=True,
        capture_output=True,
        text=True,
        env={**env, "TASKRA_DISABLE_PLUGINS": "acme"},
    )
    assert "acme" not in {p["name"] for p in json.loads(disabled.stdout)}
