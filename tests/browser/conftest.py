"""Fixtures for browser tests: the real app under uvicorn, a headless Chromium pointed at it.

- ``taskra``: overrides the suite's fixture with Shopify settings (test API key and secret,
  Admin/OAuth calls sent to ``fake_shopify``), so embedded loads install the store through
  the fake exactly as they would through Shopify.
- ``app_server`` (:class:`~tests.browser.harness.AppServer`): ``create_app(taskra,
  run_worker=False)`` on 127.0.0.1, on a free port, in the test's event loop; ``.url``.
- ``chromium``: Playwright's ``Browser``, the system Chromium, headless. Found through
  ``TASKRA_CHROMIUM``, else ``chromium``, ``chromium-browser`` or ``google-chrome`` on PATH.
  Missing or unable to start, it skips the test, except when ``CI`` is set: then it fails.
- ``app_browser`` (:class:`~tests.browser.harness.AppBrowser`): ``open_embedded(path)``,
  ``open_standalone(path, email=, password=)``, ``blocked_requests``, ``console_errors``,
  ``page_errors``; it fails the test if an uncaught page error occurred or the XSS canary
  (``window.__xss``) was set. See ``harness.py`` for what the browser sees and an example.

Passwords are hashed at the lowest bcrypt cost here, as in the sign-in tests.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright
from playwright.async_api import Error as PlaywrightError

from taskra_core import crypto
from taskra_core.app import Taskra
from taskra_core.testing import make_test_taskra
from taskra_shopify.app import create_app
from tests.browser.harness import (
    CHROMIUM_NAMES,
    AppBrowser,
    AppServer,
    browser_unavailable,
    find_chromium,
)
from tests.fakes.shopify import CLIENT_ID, CLIENT_SECRET, FakeShopify


@pytest.fixture(autouse=True)
def _fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lowest bcrypt cost: the same code path, milliseconds instead of 0.2 s a hash."""
    monkeypatch.setattr(crypto, "BCRYPT_ROUNDS", 4)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The Chromium executable, or a skip (a failure in CI) saying how to install one."""
    path = find_chromium()
    if path is None:
        configured = os.environ.get("TASKRA_CHROMIUM")
        where = (
            f"TASKRA_CHROMIUM={configured} is not an executable"
            if configured
            else f"No Chromium on PATH (looked for {', '.join(CHROMIUM_NAMES)})"
        )
        browser_unavailable(where)
    return path


@pytest.fixture
async def taskra(database_url: str, fake_shopify: FakeShopify) -> AsyncIterator[Taskra]:
    """A started Taskra that can serve the embedded app, installing through the fake."""
    core = make_test_taskra(
        database_url,
        shopify_api_key=CLIENT_ID,
        shopify_api_secret=CLIENT_SECRET,
        shopify_origin=fake_shopify.origin,
    )
    async with core:
        yield core


@pytest.fixture
async def app_server(taskra: Taskra) -> AsyncIterator[AppServer]:
    """The web app on http://127.0.0.1:<free port>, served from this test's event loop."""
    server = AppServer(create_app(taskra, run_worker=False))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def chromium(chromium_path: str) -> AsyncIterator[Browser]:
    """The system Chromium, headless, through Playwright's async API (one per test)."""
    async with async_playwright() as playwright:
        failure: PlaywrightError | None = None
        try:
            browser = await playwright.chromium.launch(executable_path=chromium_path, headless=True)
        except PlaywrightError as exc:
            failure = exc
        if failure is not None:
            browser_unavailable(f"Chromium at {chromium_path} did not start", failure.message)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def app_browser(chromium: Browser, app_server: AppServer) -> AsyncIterator[AppBrowser]:
    """Pages on the app; the test fails if a page threw an uncaught error or the XSS canary
    fired, even when every assertion passed."""
    harness = AppBrowser(chromium, app_server)
    try:
        yield harness
        problems = await harness.problems()
    finally:
        await harness.close()
    if problems:
        pytest.fail("The browser saw:\n- " + "\n- ".join(problems), pytrace=False)
