"""Smoke tests of the browser harness on the app's pages: an embedded load through App Bridge,
a standalone sign-in through the form, and what the harness guarantees to page tests.

The pages are being rewritten, so assertions on what a page shows stay loose: the store's
name or the account's email appears somewhere in the page's text or its title (inside
Shopify admin the title is where the admin shows it), not in a particular element or
sentence.
"""

from __future__ import annotations

import time

from playwright.async_api import Page
from sqlalchemy import select
from sqlmodel import col

from taskra_core.app import Taskra
from taskra_core.models import Store
from tests.browser.harness import APP_BRIDGE, AppBrowser
from tests.fakes.shopify import SHOP, FakeShopify, mint_id_token

PASSWORD = "correct horse battery"
JO = "jo@example.com"
XSS = '<img src="x" onerror="window.__xss=1">'


async def _store(taskra: Taskra, domain: str = SHOP) -> Store | None:
    async with taskra.db.session() as session:
        store: Store | None = await session.scalar(select(Store).where(col(Store.domain) == domain))
    return store


async def _shown(page: Page) -> str:
    """The page's title and visible text."""
    return f"{await page.title()}\n{await page.locator('body').inner_text()}"


async def test_embedded_home_installs_the_store_and_shows_its_name(
    app_browser: AppBrowser, taskra: Taskra, fake_shopify: FakeShopify
) -> None:
    """Loaded as Shopify admin loads it, the home page installs the store through the (fake)
    token exchange and shows the store's name; App Bridge is the local stand-in, its fetch
    reaches the real API with a valid session token, and nothing else left 127.0.0.1."""
    page = await app_browser.open_embedded("/")
    assert fake_shopify.exchanges == 1
    store = await _store(taskra)
    assert store is not None
    assert store.installed_at is not None
    assert (store.name or store.domain) in await _shown(page)
    session = await page.evaluate("fetch('/api/v1/session').then((r) => r.json())")
    assert session["shop"] == SHOP
    assert session["store_id"] == store.id
    assert APP_BRIDGE in app_browser.cdn_served
    assert app_browser.blocked_requests == []


async def test_standalone_sign_in_reaches_home_and_shows_the_account(
    app_browser: AppBrowser, taskra: Taskra
) -> None:
    """Outside Shopify admin, the real /login form signs an account in: the browser keeps the
    session cookie (Secure, on http://127.0.0.1), lands on / and sees the account's email;
    no request left 127.0.0.1."""
    now = taskra.clock.now()
    async with taskra.db.transaction() as session:
        store = Store(domain=SHOP, name="Fell & Ford", created_at=now, updated_at=now)
        session.add(store)
        await session.flush()
    assert store.id is not None
    await taskra.accounts.create_account(store.id, JO, "Jo", password=PASSWORD)
    page = await app_browser.open_standalone(email=JO, password=PASSWORD)
    assert page.url == f"{app_browser.server.url}/"
    assert JO in await _shown(page)
    cookies = {cookie["name"] for cookie in await page.context.cookies()}
    assert "taskra_session" in cookies
    assert app_browser.blocked_requests == []
    assert APP_BRIDGE not in app_browser.cdn_served  # standalone pages have no App Bridge


async def test_an_expired_token_bounces_and_comes_back_with_a_fresh_one(
    app_browser: AppBrowser, taskra: Taskra
) -> None:
    """An expired id_token on the first load goes to the bounce page, where the App Bridge
    stand-in reloads the original URL with a fresh token, as App Bridge does; the store ends
    up installed and the page is the home again."""
    expired = mint_id_token(SHOP, now=time.time() - 3600)
    page = await app_browser.open_embedded("/", id_token=expired)
    await page.wait_for_url(lambda url: "/auth/session-token" not in url)
    assert app_browser.cdn_served.count(APP_BRIDGE) == 2  # on the bounce page, then home
    assert "id_token=" in page.url
    assert expired not in page.url
    store = await _store(taskra)
    assert store is not None
    assert (store.name or store.domain) in await _shown(page)
    assert app_browser.blocked_requests == []


async def test_the_harness_blocks_outside_requests_and_sees_the_xss_canary(
    app_browser: AppBrowser,
) -> None:
    """What page tests rely on: a request to any other host (another CDN URL included) is
    aborted and listed; markup that sets window.__xss raises an uncaught page error. The
    errors are cleared at the end, or the fixture would fail this test as intended."""
    page = await app_browser.open_embedded("/")
    await page.evaluate(
        """Promise.allSettled([
            fetch("https://cdn.shopify.com/s/files/1/logo.png"),
            fetch("https://example.com/collect"),
        ])"""
    )
    assert sorted(app_browser.blocked_requests) == [
        "https://cdn.shopify.com/s/files/1/logo.png",
        "https://example.com/collect",
    ]
    async with page.expect_event("pageerror") as thrown:
        await page.evaluate("(html) => document.body.insertAdjacentHTML('beforeend', html)", XSS)
    assert "XSS canary" in (await thrown.value).message
    assert any("XSS canary" in error for error in app_browser.page_errors)
    assert await page.evaluate("window.__xss") == 1
    app_browser.page_errors.clear()
    assert await app_browser.problems() == ["window.__xss is 1 on page /"]
    await page.reload()  # a fresh document: the canary is unset again
    assert await app_browser.problems() == []
