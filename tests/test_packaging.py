"""The wheel ships what the app needs: every package on disk is listed in pyproject.toml
(the list is explicit because templates/ is mapped into taskra_core), and the templates and
static files are declared as package data."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_namespace_packages

REPO = Path(__file__).resolve().parent.parent


def test_every_package_on_disk_is_listed() -> None:
    """A new subpackage that is not added to [tool.setuptools] packages would be missing from
    the wheel; this fails first."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {
        name
        for name in find_namespace_packages(
            where=str(REPO), include=["taskra_core*", "taskra_shopify*"]
        )
        if any((REPO / name.replace(".", "/")).glob("*.py"))
    }
    # Channel plugins sit under channels/ but install under their own top-level names.
    on_disk |= {
        name
        for name in find_namespace_packages(where=str(REPO / "channels"), include=["taskra_*"])
        if any((REPO / "channels" / name.replace(".", "/")).glob("*.py"))
    }
    assert on_disk - listed == set(), "packages missing from pyproject.toml"
    assert "taskra_core.templates" in listed
    assert config["package-dir"]["taskra_core.templates"] == "templates"


def test_channel_packages_are_mapped_to_their_directories() -> None:
    """Every channel package on disk is listed and mapped to channels/<name>, so it lands in
    the wheel under its own name rather than under a "channels" package."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    channels = sorted(path.parent.name for path in (REPO / "channels").glob("taskra_*/__init__.py"))
    assert channels, "no channel packages found under channels/"
    for name in channels:
        assert name in config["packages"], f"{name} missing from [tool.setuptools] packages"
        assert config["package-dir"].get(name) == f"channels/{name}"
        assert "py.typed" in config["package-data"].get(name, [])
    assert "channels" not in config["packages"]


def test_templates_and_static_files_are_package_data() -> None:
    """The globs in pyproject.toml match the files the pages load."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    data = config["package-data"]
    assert "**/*.html" in data["taskra_core.templates"]
    assert "static/*" in data["taskra_shopify"]
    assert list((REPO / "templates").rglob("*.html"))
    assert (REPO / "taskra_shopify" / "static" / "taskra.js").is_file()
