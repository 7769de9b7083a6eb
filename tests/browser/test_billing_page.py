"""The usage page's plan buttons in a real browser: upgrading from inside Shopify admin asks
Shopify for a subscription and opens its confirmation page in the top frame (it cannot load
inside the admin's iframe)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import taskra_shopify.plugin
from taskra_core.app import Taskra
from taskra_core.testing import make_test_taskra
from tests.browser.harness import AppBrowser
from tests.fakes.shopify import CLIENT_ID, CLIENT_SECRET, SHOP, FakeShopify

# Records window.open instead of navigating away from the page under test.
RECORD_OPEN = """
window.__opened = [];
window.open = (url, target) => {
  window.__opened.push([String(url), String(target)]);
  return null;
};
"""


@pytest.fixture
async def taskra(database_url: str, fake_shopify: FakeShopify) -> AsyncIterator[Taskra]:
    """The browser suite's Taskra, with the web shell's plugin (Shopify billing) loaded."""
    core = make_test_taskra(
        database_url,
        plugins=[taskra_shopify.plugin],
        shopify_api_key=CLIENT_ID,
        shopify_api_secret=CLIENT_SECRET,
        shopify_origin=fake_shopify.origin,
    )
    async with core:
        yield core


async def test_upgrade_opens_shopify_confirmation_in_the_top_frame(
    app_browser: AppBrowser, fake_shopify: FakeShopify
) -> None:
    """Clicking "Upgrade to Pro" creates a pending Shopify subscription and opens its
    confirmation page with target _top; the plan stays Free until Shopify confirms."""
    page = await app_browser.new_page()
    await page.add_init_script(RECORD_OPEN)
    page = await app_browser.open_embedded("/usage", page=page)
    await page.get_by_role("button", name="Upgrade to Pro").click()
    await page.wait_for_function("window.__opened.length > 0")
    [[url, target]] = await page.evaluate("window.__opened")
    assert target == "_top"
    assert url.startswith(f"https://{SHOP}/admin/charges/")
    [pending] = fake_shopify.billing.subscriptions.values()
    assert (pending.name, pending.status) == ("Taskra Pro", "PENDING")
    assert "You are on the <strong>Free</strong> plan" in await page.content()
    assert await app_browser.problems() == []
