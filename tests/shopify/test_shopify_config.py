"""The Shopify CLI's files agree with the code: the backend starts on the CLI's port, the app
uses managed install and the Admin API version Taskra pins, and the webhook subscriptions
match the registered topic handlers."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import taskra_shopify.plugin
from taskra_core.settings import DEFAULT_SHOPIFY_API_VERSION
from taskra_core.testing import make_test_taskra
from taskra_shopify.webhook_dispatch import topics_of

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


def _subscribed(app: dict[str, Any]) -> set[str]:
    topics: set[str] = set()
    for subscription in app["webhooks"].get("subscriptions", []):
        assert subscription["uri"] == "/webhooks/shopify"
        topics |= set(subscription.get("topics", [])) | set(
            subscription.get("compliance_topics", [])
        )
    return topics


def test_app_toml_subscribes_the_compliance_topics_and_the_app_proxy() -> None:
    """The three mandatory privacy topics are subscribed (MISSING_COMPLIANCE_WEBHOOKS) and the
    chat widget's app proxy points at /proxy under /apps/support."""
    app = tomllib.loads((REPO / "shopify.app.toml").read_text())
    compliance = {
        topic
        for subscription in app["webhooks"]["subscriptions"]
        for topic in subscription.get("compliance_topics", [])
    }
    assert compliance == {"customers/data_request", "customers/redact", "shop/redact"}
    assert app["app_proxy"] == {"url": "/proxy", "subpath": "support", "prefix": "apps"}
    assert "write_app_proxy" in app["access_scopes"]["scopes"].split(",")


async def test_every_subscribed_topic_has_a_handler_and_back(database_url: str) -> None:
    """Each topic shopify.app.toml subscribes has a registered handler, and each topic a
    handler is registered for (shell plugin loaded, core started) is subscribed."""
    app = tomllib.loads((REPO / "shopify.app.toml").read_text())
    core = make_test_taskra(database_url, plugins=[taskra_shopify.plugin])
    await core.startup()
    try:
        registered = set(topics_of(core).topics)
    finally:
        await core.shutdown()
    subscribed = _subscribed(app)
    assert subscribed - registered == set(), "subscribed topics without a handler"
    assert registered - subscribed == set(), "handled topics that are not subscribed"
