"""The browser harness: Taskra served by uvicorn, driven by a headless Chromium.

Fixtures (in ``conftest.py`` next to this file) build these; tests use them directly:

- :class:`AppServer` serves ``create_app(taskra)`` on ``127.0.0.1`` in the test's own event
  loop, so a test can call core services (``taskra.inbox.receive(...)``) while the browser
  watches the page. No job worker runs: a test runs jobs when it wants them, with
  ``await Worker(taskra).run_until_idle()``. Do not block the loop (no ``time.sleep``):
  the server answers the browser only while the test awaits.
- :class:`AppBrowser` opens pages, each in a fresh browser context (no cookies shared), with:

  * Shopify's CDN answered locally. ``app-bridge.js`` is a stand-in that defines
    ``window.shopify`` (``idToken()``, ``config``, ``toast.show()``), adds
    ``Authorization: Bearer <session token>`` to same-origin ``fetch`` calls that have none,
    and, like App Bridge on the bounce page, reloads ``shopify-reload`` with a fresh
    ``id_token``. The token is minted in Python when the script is served (HS256 with the
    test app secret, for :attr:`AppBrowser.shop`). ``polaris.js``/``polaris-1.js`` are an
    empty stand-in: ``<s-*>`` elements stay plain HTMLElements (their text shows, clicks
    fire), so a page must be usable without real Polaris.
  * every other request that leaves 127.0.0.1 aborted and listed in
    :attr:`AppBrowser.blocked_requests` (any other CDN URL too);
  * uncaught page errors in :attr:`AppBrowser.page_errors`: the ``app_browser`` fixture fails
    the test if there are any when it ends. Console errors (``console_errors``) and dialogs
    (``dialogs``; dismissed unless ``accept_dialogs``) are only recorded.
  * an XSS canary: setting ``window.__xss`` throws (so it is an uncaught page error) and the
    fixture also fails the test if any open page has ``window.__xss`` set. A payload such as
    ``<img src=x onerror="window.__xss=1">`` thus fails any test in which it runs.

The App Bridge stand-in is not App Bridge: its one token lives 10 minutes and is never
renewed, a 401 is not retried, and ``window.shopify`` has only what is listed above (a page
calling anything else throws, which fails the test: add it here). ``open_embedded`` and
``open_standalone`` fail on a 4xx/5xx answer; to look at an error page, ``page.goto()``
``app_browser.server.embedded_url(...)`` yourself.

Example (``expect`` is Playwright's, from ``playwright.async_api``)::

    async def test_a_new_message_shows_up(app_browser: AppBrowser, taskra: Taskra) -> None:
        # (its docstring says what it proves)
        page = await app_browser.open_embedded("/")  # the first load installs the store
        async with taskra.db.session() as session:
            store = await get_store(session, SHOP)
        message = InboundMessage(channel="email", from_email="c@example.com", text="Hi?")
        await taskra.inbox.receive(store.id, message)  # the server keeps serving meanwhile
        await expect(page.get_by_text("Hi?")).to_be_visible()
        assert app_browser.blocked_requests == []

A standalone page instead: create the store and an account with a password
(``await taskra.accounts.create_account(store.id, email, "Jo", password=password)``), then
``page = await app_browser.open_standalone("/", email=email, password=password)``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NoReturn
from urllib.parse import urlencode, urlsplit

import pytest
import uvicorn
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Page,
    Response,
    Route,
)
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import WebError as PlaywrightWebError
from starlette.applications import Starlette

from tests.fakes.shopify import SHOP, mint_id_token

CDN = "https://cdn.shopify.com/"
APP_BRIDGE = f"{CDN}shopifycloud/app-bridge.js"
POLARIS = (f"{CDN}shopifycloud/polaris.js", f"{CDN}shopifycloud/polaris-1.js")
# Real session tokens live 60 s and App Bridge renews them; the stand-in cannot renew, so
# its token outlives any test instead.
TOKEN_LIFETIME = 600
# Playwright's default is 30 s; a page that does not show what a test waits for should fail
# sooner than that.
TIMEOUT_MS = 10_000
INSTALL_HINT = (
    "Browser tests need Chromium: install Debian/Ubuntu's package with "
    "`apt-get install -y chromium`, or set TASKRA_CHROMIUM to a Chromium or Chrome executable."
)
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")

APP_BRIDGE_JS = """\
(() => {
  "use strict";
  const token = %(token)s;
  const shop = %(shop)s;
  const meta = document.querySelector('meta[name="shopify-api-key"]');
  const tag = document.currentScript;
  const apiKey = (meta && meta.content) || (tag && tag.dataset.apiKey) || "";
  if (!apiKey) console.error("App Bridge stand-in: the page has no shopify-api-key meta tag");
  const params = new URLSearchParams(location.search);
  const toasts = [];
  window.__appBridge = { standIn: true, toasts };
  window.shopify = {
    config: { apiKey, shop, host: params.get("host"), locale: "en" },
    idToken: async () => token,
    toast: {
      show(message, options) {
        toasts.push({ message: String(message), options: options || {} });
        return String(toasts.length);
      },
      hide() {},
    },
  };
  const fetchFromPage = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const request = new Request(input, init);
    if (new URL(request.url).origin !== location.origin || request.headers.has("Authorization")) {
      return fetchFromPage(request);
    }
    const headers = new Headers(request.headers);
    headers.set("Authorization", `Bearer ${await window.shopify.idToken()}`);
    return fetchFromPage(new Request(request, { headers }));
  };
  const reload = params.get("shopify-reload");
  if (reload) {
    const target = new URL(reload, location.origin);
    if (target.origin === location.origin) {
      target.searchParams.set("id_token", token);
      location.replace(target.href);
    }
  }
})();
"""

POLARIS_JS = "window.__polarisStandIn = true;\n"

XSS_CANARY_JS = """\
(() => {
  let value;
  Object.defineProperty(window, "__xss", {
    configurable: false,
    get: () => value,
    set: (next) => {
      value = next;
      throw new Error(`XSS canary: window.__xss was set to ${String(next)}`);
    },
  });
})();
"""


def shopify_host(shop: str) -> str:
    """The ``host`` query parameter Shopify admin adds: base64 of the admin URL's host+path."""
    store = shop.removesuffix(".myshopify.com")
    return base64.b64encode(f"admin.shopify.com/store/{store}".encode()).decode()


def find_chromium() -> str | None:
    """``TASKRA_CHROMIUM`` (a path or a command name), else the first Chromium on PATH."""
    configured = os.environ.get("TASKRA_CHROMIUM")
    if configured:
        return shutil.which(configured)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def browser_unavailable(reason: str, detail: str = "") -> NoReturn:
    """Skip the test, or fail it when ``CI`` is set: in CI a browser test never skips.
    ``detail`` (the browser's own output) is shown with the failure only."""
    message = f"{reason}. {INSTALL_HINT}"
    if os.environ.get("CI"):
        message += " (CI is set, so this fails instead of skipping.)"
        pytest.fail(f"{message}\n{detail}".strip(), pytrace=False)
    pytest.skip(message)


class _InLoopServer(uvicorn.Server):
    """uvicorn without its signal handlers: Ctrl-C stays with pytest."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class AppServer:
    """``app`` served by uvicorn on 127.0.0.1 in the running event loop (see :meth:`start`)."""

    app: Starlette
    url: str = ""
    _server: _InLoopServer | None = None
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # lifespan off: the test's ``taskra`` fixture starts and stops the core, so a test can
        # keep using it before the server is up and after it is gone.
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=0,
            lifespan="off",
            log_config=None,
            access_log=False,
            ws="none",
            timeout_graceful_shutdown=5,
        )
        self._server = server = _InLoopServer(config)
        self._task = task = asyncio.create_task(server.serve(), name="taskra-test-server")
        while not server.started:
            if task.done():
                task.result()  # raises what stopped it
                raise RuntimeError("uvicorn stopped before it started serving")
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._server = self._task = None

    def embedded_url(
        self, path: str = "/", *, shop: str = SHOP, id_token: str | None = None
    ) -> str:
        """``path`` as Shopify admin first loads it: shop, host, embedded=1 and an id_token."""
        query = {
            "shop": shop,
            "host": shopify_host(shop),
            "embedded": "1",
            "id_token": id_token or mint_id_token(shop, lifetime=TOKEN_LIFETIME),
        }
        separator = "&" if "?" in path else "?"
        return f"{self.url}{path}{separator}{urlencode(query)}"


@dataclass
class AppBrowser:
    """Pages on :class:`AppServer`, with Shopify's CDN stood in and everything else blocked."""

    browser: Browser
    server: AppServer
    shop: str = SHOP  # whose session tokens the App Bridge stand-in mints
    accept_dialogs: bool = False
    blocked_requests: list[str] = field(default_factory=list)  # aborted, never sent
    cdn_served: list[str] = field(default_factory=list)  # stand-ins served, by URL
    page_errors: list[str] = field(default_factory=list)  # uncaught; fail the test
    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)  # "type: message"
    contexts: list[BrowserContext] = field(default_factory=list)

    async def new_page(self) -> Page:
        """A page in a fresh browser context: its own cookies and storage."""
        context = await self.browser.new_context()
        self.contexts.append(context)
        context.set_default_timeout(TIMEOUT_MS)
        await context.add_init_script(XSS_CANARY_JS)
        await context.route(self._leaves_the_app, self._answer_outside_request)
        context.on("weberror", self._on_page_error)
        context.on("console", self._on_console)
        context.on("dialog", self._on_dialog)
        return await context.new_page()

    async def open_embedded(
        self,
        path: str = "/",
        *,
        shop: str | None = None,
        id_token: str | None = None,
        page: Page | None = None,
    ) -> Page:
        """Load ``path`` as Shopify admin first loads the app: a top-level navigation to
        ``path?shop=&host=&embedded=1&id_token=``. ``id_token`` defaults to a valid one;
        ``shop`` (default :attr:`shop`) also becomes the App Bridge stand-in's shop."""
        if shop is not None:
            self.shop = shop
        page = page or await self.new_page()
        url = self.server.embedded_url(path, shop=self.shop, id_token=id_token)
        response = await page.goto(url)
        await _expect_ok(response, f"GET {path} (embedded)")
        return page

    async def open_standalone(
        self, path: str = "/", *, email: str, password: str, page: Page | None = None
    ) -> Page:
        """Sign in through the real ``/login`` form (the account must exist, with this
        password), follow its redirect (to ``/``), then go to ``path`` if it is another page.
        A refused sign-in fails with the server's answer."""
        page = page or await self.new_page()
        await _expect_ok(await page.goto(f"{self.server.url}/login"), "GET /login")
        await page.locator('input[name="email"]').fill(email)
        password_field = page.locator('input[name="password"]')
        await password_field.fill(password)
        login_url = f"{self.server.url}/login"
        async with page.expect_response(
            lambda r: r.url == login_url and r.request.method == "POST"
        ) as posted:
            await password_field.press("Enter")  # submits the form, as a person would
        answer = await posted.value
        if answer.status != 303:
            body = (await answer.text()).strip()
            raise AssertionError(f"sign-in as {email} answered {answer.status}: {body[:500]}")
        await page.wait_for_url(lambda url: urlsplit(url).path != "/login")
        if path != "/":
            await _expect_ok(await page.goto(f"{self.server.url}{path}"), f"GET {path}")
        return page

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()
        self.contexts.clear()

    async def problems(self) -> list[str]:
        """Uncaught page errors so far, and open pages whose ``window.__xss`` is set."""
        found = [f"uncaught page error: {error}" for error in self.page_errors]
        for context in self.contexts:
            for page in context.pages:
                with contextlib.suppress(PlaywrightError):  # e.g. a page mid-navigation
                    canary = await page.evaluate("window.__xss")
                    if canary is not None:
                        path = urlsplit(page.url).path
                        found.append(f"window.__xss is {canary!r} on page {path}")
        return found

    # -- handlers ---------------------------------------------------------------------------

    def _leaves_the_app(self, url: str) -> bool:
        return urlsplit(url).hostname != "127.0.0.1"

    async def _answer_outside_request(self, route: Route) -> None:
        url = route.request.url.split("?", 1)[0].split("#", 1)[0]
        if url == APP_BRIDGE:
            token = mint_id_token(self.shop, lifetime=TOKEN_LIFETIME)
            values = {"token": json.dumps(token), "shop": json.dumps(self.shop)}
            await _fulfill_script(route, APP_BRIDGE_JS % values)
        elif url in POLARIS:
            await _fulfill_script(route, POLARIS_JS)
        else:
            self.blocked_requests.append(route.request.url)
            await route.abort("blockedbyclient")
            return
        self.cdn_served.append(url)

    def _on_page_error(self, error: PlaywrightWebError) -> None:
        page = urlsplit(error.page.url).path if error.page is not None else "?"
        frames = [line.strip() for line in (error.error.stack or "").splitlines()]
        at = next((line for line in frames if line.startswith("at ")), "")
        self.page_errors.append(f"{error.error.message} (page {page}{', ' if at else ''}{at})")

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} ({message.location.get('url', '?')})")

    async def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        if self.accept_dialogs:
            await dialog.accept()
        else:
            await dialog.dismiss()


async def _fulfill_script(route: Route, body: str) -> None:
    await route.fulfill(
        status=200,
        content_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "no-store", "Access-Control-Allow-Origin": "*"},
        body=body,
    )


async def _expect_ok(response: Response | None, what: str) -> None:
    if response is None:
        raise AssertionError(f"{what}: no response")
    if response.status >= 400:
        text = await response.text()
        raise AssertionError(f"{what} answered {response.status}: {text[:500]}")
