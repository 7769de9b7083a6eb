"""The theme app extension (``extensions/taskra-chat``) follows the Shopify CLI's layout rules
for theme extensions, its app embed targets ``body`` with the merchant settings the widget
reads, and the widget stays within its budget: <= 8 KB gzipped JS+CSS, no third-party
addresses, no HTML parsing of text."""

from __future__ import annotations

import gzip
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.browser.chat_storefront import EXTENSION, block_schema, render_embed

REPO = Path(__file__).resolve().parents[2]
# The CLI's theme extension spec (Shopify/cli: specifications/theme.ts).
ALLOWED_DIRS = {"assets", "blocks", "locales", "snippets"}
ALLOWED_ASSETS = {".js", ".css", ".json", ".png", ".jpg", ".svg", ".wasm"}
BUNDLE_LIMIT = 10 * 1024 * 1024
LIQUID_LIMIT = 500 * 1024
WIDGET_BUDGET = 8 * 1024


def _files() -> list[Path]:
    return [p for p in EXTENSION.rglob("*") if p.is_file()]


def test_the_extension_is_a_theme_extension() -> None:
    """shopify.extension.toml names the extension and declares ``type = "theme"``."""
    config = tomllib.loads((EXTENSION / "shopify.extension.toml").read_text())
    assert config["type"] == "theme"
    assert re.fullmatch(r"[a-z0-9-]{1,50}", config["name"])


def test_only_the_directories_and_file_types_the_cli_allows() -> None:
    """Top level: the toml and assets/, blocks/, locales/, snippets/ only; no nesting; assets
    of the allowed types; blocks and snippets Liquid; locales JSON; within the size limits."""
    for path in _files():
        relative = path.relative_to(EXTENSION)
        if relative.parts == ("shopify.extension.toml",):
            continue
        assert len(relative.parts) == 2, f"{relative}: files sit directly in one directory"
        folder = relative.parts[0]
        assert folder in ALLOWED_DIRS, f"{relative}: {folder}/ is not allowed"
        if folder == "assets":
            assert path.suffix in ALLOWED_ASSETS, f"{relative}: not an allowed asset type"
        elif folder in ("blocks", "snippets"):
            assert path.suffix == ".liquid", relative
        else:
            assert path.name.endswith(".json"), relative
            json.loads(path.read_text())
    assert sum(p.stat().st_size for p in _files()) < BUNDLE_LIMIT
    liquid = [p for p in _files() if p.suffix == ".liquid"]
    assert sum(p.stat().st_size for p in liquid) < LIQUID_LIMIT


def test_the_app_embed_targets_body_with_the_merchant_settings() -> None:
    """The block is an app embed (``target: body``) whose script and stylesheet exist in
    assets/, with accent colour, greeting and position settings that have defaults."""
    schema = block_schema()
    assert schema["target"] == "body"
    for key in ("javascript", "stylesheet"):
        assert (EXTENSION / "assets" / schema[key]).is_file(), schema[key]
    settings = {s["id"]: s for s in schema["settings"]}
    assert settings["accent"]["type"] == "color"
    assert settings["greeting"]["type"] == "text"
    assert settings["position"]["type"] == "select"
    assert {o["value"] for o in settings["position"]["options"]} == {"left", "right"}
    assert all("default" in s for s in settings.values())


def _lookup(tree: dict[str, Any], key: str) -> Any:
    value: Any = tree
    for part in key.split("."):
        assert isinstance(value, dict), f"{key!r} goes through a string"
        assert part in value, f"missing translation {key!r}"
        value = value[part]
    return value


def test_every_translation_key_exists() -> None:
    """Each ``t:`` key of the schema is in en.default.schema.json, and each ``| t`` key of
    the markup is in en.default.json (an unknown key would show as "translation missing")."""
    schema_locale = json.loads((EXTENSION / "locales" / "en.default.schema.json").read_text())
    storefront_locale = json.loads((EXTENSION / "locales" / "en.default.json").read_text())
    schema_keys = re.findall(r'"t:([a-z_.]+)"', json.dumps(block_schema()))
    assert schema_keys
    for key in schema_keys:
        assert isinstance(_lookup(schema_locale, key), str)
    markup = (EXTENSION / "blocks" / "chat-embed.liquid").read_text()
    markup_keys = re.findall(r"'([a-z_.]+)' \| t\b", markup)
    assert len(markup_keys) >= 10
    for key in markup_keys:
        assert isinstance(_lookup(storefront_locale, key), str)


def test_the_widget_talks_to_the_configured_app_proxy() -> None:
    """The markup's proxy path is the app proxy that shopify.app.toml declares."""
    proxy = tomllib.loads((REPO / "shopify.app.toml").read_text())["app_proxy"]
    rendered = render_embed("fellandford.myshopify.com")
    assert f'data-proxy="/{proxy["prefix"]}/{proxy["subpath"]}"' in rendered
    assert proxy["url"] == "/proxy"


def test_the_widget_is_at_most_8_kb_gzipped() -> None:
    """The widget's JavaScript and CSS, each gzipped as served, add up to <= 8 KB."""
    assets = [EXTENSION / "assets" / "chat.js", EXTENSION / "assets" / "chat.css"]
    sizes = {p.name: len(gzip.compress(p.read_bytes(), compresslevel=9)) for p in assets}
    print(f"\nwidget gzipped: {sizes} = {sum(sizes.values())} bytes of {WIDGET_BUDGET}")
    assert sum(sizes.values()) <= WIDGET_BUDGET


@pytest.mark.parametrize("name", ["chat.js", "chat.css"])
def test_the_widget_loads_nothing_from_elsewhere(name: str) -> None:
    """No absolute URL, protocol-relative URL, @import or web font in the assets: the only
    requests the widget makes go to the shop's own origin."""
    text = (EXTENSION / "assets" / name).read_text()
    assert not re.search(r"https?:|//[a-z0-9.-]+\.[a-z]{2,}|@import|url\(", text, re.I)


def test_the_widget_never_parses_text_as_html() -> None:
    """Every text is set with textContent: no innerHTML, outerHTML, insertAdjacentHTML,
    document.write or eval in the script."""
    script = (EXTENSION / "assets" / "chat.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink
    assert "textContent" in script
