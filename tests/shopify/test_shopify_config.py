"""The Shopify CLI's files agree with the code: the backend starts on the CLI's port, the app
uses managed install and the Admin API version Taskra pins."""

from __future__ import annotations

import tomllib
from pathlib import Path

from taskra_core.settings import DEFAULT_SHOPIFY_API_VERSION

REPO = Path(__file__).resolve().parents[2]


def test_web_toml_runs_the_python_backend_on_the_cli_port() -> None:
    """`shopify app dev` starts `taskra serve` on $PORT, as both frontend and backend."""
    web = tomllib.loads((REPO / "shopify.web.toml").read_text())
    assert set(web["roles"]) == {"frontend", "backend"}
    assert "taskra serve" in web["commands"]["dev"]
    assert "--port $PORT" in web["commands"]["dev"]
    assert (REPO / "package.json").is_file()  # the CLI expects one at the app's root


def test_app_toml_uses_managed_install_and_the_pinned_api_version() -> None:
    """Scopes are granted at install (no legacy OAuth flow) and webhooks use Taskra's version."""
    app = tomllib.loads((REPO / "shopify.app.toml").read_text())
    assert app["embedded"] is True
    assert app["access_scopes"]["use_legacy_install_flow"] is False
    scopes = set(app["access_scopes"]["scopes"].split(","))
    assert {"read_products", "read_orders", "read_legal_policies"} <= scopes
    assert app["webhooks"]["api_version"] == DEFAULT_SHOPIFY_API_VERSION
