"""What a browser sees of Taskra's privacy promises: every request each page makes goes to
Taskra itself or, inside Shopify admin, to Shopify's own CDN (App Bridge, Polaris); no
advertising or tracking script; no cookie but the session cookie; the privacy page loads
nothing but its stylesheet; the privacy-requests page works."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.async_api import Page, Request, expect
from sqlalchemy import select
from sqlmodel import col

from taskra_core.app import Taskra
from taskra_core.inbox.messages import InboundMessage
from taskra_core.models import Store
from taskra_core.worker import Worker
from tests.browser.harness import AppBrowser
from tests.fakes.shopify import SHOP

PASSWORD = "correct horse battery"
SHOPIFY_CDN = "cdn.shopify.com"
PAGES = ("/", "/knowledge", "/usage", "/privacy-requests")


def record(page: Page) -> list[str]:
    requests: list[str] = []

    def seen(request: Request) -> None:
        requests.append(request.url)

    page.on("request", seen)
    return requests


def hosts(urls: list[str]) -> set[str]:
    return {urlsplit(url).hostname or "" for url in urls}


async def store_with_customer(taskra: Taskra) -> int:
    async with taskra.db.session() as session:
        store = await session.scalar(select(Store).where(col(Store.domain) == SHOP))
    assert store is not None
    assert store.id is not None
    await taskra.inbox.receive(
        store.id,
        InboundMessage(channel="email", from_email="rook@example.com", text="Hello"),
    )
    await Worker(taskra).run_until_idle()
    return store.id


async def test_standalone_pages_only_talk_to_taskra_and_set_only_the_session_cookie(
    app_browser: AppBrowser, taskra: Taskra
) -> None:
    """Signed in outside Shopify admin: each page's requests stay on Taskra's origin or
    Shopify's CDN (Polaris), nothing is blocked, and the one cookie is the session's."""
    page = await app_browser.open_embedded("/")  # installs the store through the fake
    store_id = await store_with_customer(taskra)
    await taskra.accounts.create_account(
        store_id, "merchant@example.com", "M", role="merchant", password=PASSWORD
    )
    page = await app_browser.open_standalone("/", email="merchant@example.com", password=PASSWORD)
    requests = record(page)
    for path in PAGES:
        response = await page.goto(f"{app_browser.server.url}{path}")
        assert response is not None
        assert response.ok, path
    assert requests
    assert hosts(requests) <= {"127.0.0.1", SHOPIFY_CDN}
    assert [u for u in requests if SHOPIFY_CDN in u and "polaris" not in u] == []
    assert app_browser.blocked_requests == []
    cookies = await page.context.cookies()
    assert [c["name"] for c in cookies] == ["taskra_session"]
    assert cookies[0]["httpOnly"] is True


async def test_embedded_pages_set_no_cookie_and_load_only_shopify_scripts(
    app_browser: AppBrowser, taskra: Taskra
) -> None:
    """Inside Shopify admin no cookie is set at all, and the only scripts from elsewhere are
    Shopify's App Bridge and Polaris."""
    page = await app_browser.open_embedded("/")
    requests = record(page)
    for path in PAGES:
        await app_browser.open_embedded(path, page=page)
    assert hosts(requests) <= {"127.0.0.1", SHOPIFY_CDN}
    assert set(app_browser.cdn_served) <= {u.split("?")[0] for u in requests if SHOPIFY_CDN in u}
    assert app_browser.blocked_requests == []
    assert await page.context.cookies() == []


async def test_privacy_page_loads_nothing_but_itself(app_browser: AppBrowser) -> None:
    """/privacy: the document and Taskra's stylesheet, no script, no cookie."""
    page = await app_browser.new_page()
    requests = record(page)
    response = await page.goto(f"{app_browser.server.url}/privacy")
    assert response is not None
    assert response.ok
    await expect(page.get_by_role("heading", name="Privacy Policy")).to_be_visible()
    assert [urlsplit(u).path for u in requests] == ["/privacy", "/static/taskra.css"]
    assert await page.evaluate("document.scripts.length") == 0
    assert await page.context.cookies() == []


async def test_privacy_requests_page_exports_and_lists(
    app_browser: AppBrowser, taskra: Taskra
) -> None:
    """In the admin, exporting a customer's data from the privacy-requests page adds a
    completed request with a download link to the ledger."""
    page = await app_browser.open_embedded("/privacy-requests")
    await store_with_customer(taskra)
    form = page.locator('form[data-path="/api/v1/privacy/exports"]')
    await form.locator('input[name="email"]').fill("rook@example.com")
    await form.get_by_role("button").click()
    await expect(page.get_by_role("link", name="Download JSON")).to_be_visible()
    await expect(page.locator("table.privacy-requests")).to_contain_text("rook@example.com")
