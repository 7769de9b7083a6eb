"""The storefront chat widget in a real browser: a stand-in storefront page with the app
embed's real markup (rendered from the block) and assets, a stand-in for Shopify's app proxy
that signs each request, and Taskra behind it.

A visitor asks a product question and sees the AI's answer, asks for a person and sees the
handover, then sees the agent's reply; a script in any message stays text; the conversation
survives navigating to another page; the widget is operable by keyboard and labelled for
screen readers; it makes no request beyond the shop's own origin. A screenshot is saved
(its path is printed) for a person to look at.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import taskra_chat.plugin
from playwright.async_api import Page, expect
from sqlalchemy import select
from sqlmodel import col

from taskra_core.app import Taskra
from taskra_core.demo import FELLANDFORD
from taskra_core.knowledge.importer import import_store
from taskra_core.models import Conversation
from taskra_core.testing import make_test_taskra
from taskra_core.worker import Worker
from tests.browser.chat_storefront import Storefront, storefront_app
from tests.browser.harness import AppBrowser, AppServer
from tests.fakes.shopify import CLIENT_ID, CLIENT_SECRET, SHOP, FakeShopify

QUESTION = "Is the Skiddaw waterproof jacket breathable?"
ASK_FOR_PERSON = "Can I talk to a real person please?"
AGENT_REPLY = 'Hi, Sam here <img src=x onerror="window.__xss = 1"> & happy to help.'
SCRIPT = '<script>window.__xss = 2</script><b onmouseover="window.__xss = 3">bold?</b>'


@pytest.fixture
async def taskra(database_url: str, fake_shopify: FakeShopify) -> AsyncIterator[Taskra]:
    """The demo store with the chat plugin and auto-sent AI replies; held polls are short so
    the servers stop quickly when the test ends."""
    core = make_test_taskra(
        database_url,
        plugins=[taskra_chat.plugin],
        shopify_api_key=CLIENT_ID,
        shopify_api_secret=CLIENT_SECRET,
        shopify_origin=fake_shopify.origin,
        chat_wait_seconds=2.0,
        chat_poll_seconds=0.1,
    )
    async with core:
        await import_store(core, FELLANDFORD)
        await core.drafting.set_autonomy(SHOP, "auto_send")
        yield core


@pytest.fixture
async def storefront(app_server: AppServer) -> AsyncIterator[AppServer]:
    """The shop's storefront on its own 127.0.0.1 port, proxying /apps/support to Taskra."""
    server = AppServer(storefront_app(Storefront(app_server.url, SHOP, CLIENT_SECRET)))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def open_shop(app_browser: AppBrowser, storefront: AppServer) -> tuple[Page, list[str]]:
    page = await app_browser.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(f"{storefront.url}/")
    return page, requested


async def send(page: Page, text: str) -> None:
    box = page.get_by_label("Your message")
    await box.fill(text)
    await box.press("Enter")
    await expect(page.locator(".tc-visitor").filter(has_text=text)).to_be_visible()


async def test_a_visitor_chats_with_the_ai_then_a_person(
    app_browser: AppBrowser, storefront: AppServer, taskra: Taskra, tmp_path: Path
) -> None:
    """The whole visit, as described in the module docstring."""
    page, requested = await open_shop(app_browser, storefront)
    launcher = page.get_by_role("button", name="Open chat")
    await expect(launcher).to_have_attribute("aria-expanded", "false")
    await launcher.click()
    await expect(launcher).to_have_attribute("aria-expanded", "true")
    await expect(page.get_by_role("dialog", name="Chat with us")).to_be_visible()
    await expect(page.get_by_label("Your message")).to_be_focused()

    await send(page, QUESTION)
    await Worker(taskra).run_until_idle()  # draft (auto-send) and deliver
    answer = page.locator(".tc-ai").filter(has_text="Skiddaw")
    await expect(answer).to_be_visible()
    await expect(page.get_by_role("status")).to_contain_text("AI assistant")

    await send(page, ASK_FOR_PERSON)
    await Worker(taskra).run_until_idle()  # escalated: waits for a person
    await expect(page.get_by_role("status")).to_have_text(
        "A person from our team will reply here soon."
    )

    store_id, conversation_id = await chat_conversation(taskra)
    drafts = await taskra.drafting.for_conversation(store_id, conversation_id)
    waiting = next(d for d in drafts if d.state == "escalated")
    await taskra.drafting.approve(store_id, waiting.id or 0, text=AGENT_REPLY)
    await Worker(taskra).run_until_idle()
    await expect(page.locator(".tc-agent")).to_contain_text(AGENT_REPLY)
    await expect(page.get_by_role("status")).to_have_text(
        "You're now chatting with a person from our team."
    )

    await send(page, SCRIPT)  # shown as typed, never run (the harness's XSS canary)
    await expect(page.locator(".tc-log img, .tc-log script, .tc-log b")).to_have_count(0)

    await page.get_by_role("link", name="Shipping").click()
    await page.wait_for_url("**/pages/shipping")
    await expect(page.get_by_role("dialog", name="Chat with us")).to_be_visible()
    await expect(page.locator(".tc-agent")).to_contain_text(AGENT_REPLY)
    await expect(page.locator(".tc-visitor")).to_have_count(3)

    shot = tmp_path / "chat-widget.png"
    await page.screenshot(path=str(shot))
    print(f"\nchat widget screenshot: {shot}")
    origin = urlsplit(storefront.url).netloc
    assert [url for url in requested if urlsplit(url).netloc != origin] == []
    assert app_browser.blocked_requests == []


async def test_the_widget_is_keyboard_operable_and_labelled(
    app_browser: AppBrowser, storefront: AppServer
) -> None:
    """Tab reaches the launcher; Enter opens the panel with focus in the message box; every
    control has an accessible name; focus moves through the panel in reading order; Escape
    closes it and returns focus to the launcher. Works at a phone's width too."""
    page, _ = await open_shop(app_browser, storefront)
    await page.set_viewport_size({"width": 375, "height": 700})
    launcher = page.get_by_role("button", name="Open chat")
    for _ in range(10):  # past the page's own links
        await page.keyboard.press("Tab")
        if await launcher.evaluate("node => node === document.activeElement"):
            break
    await expect(launcher).to_be_focused()
    await page.keyboard.press("Enter")
    box = page.get_by_label("Your message")
    await expect(box).to_be_focused()
    panel = page.get_by_role("dialog", name="Chat with us")
    box_size = await panel.bounding_box()
    assert box_size is not None
    assert box_size["width"] == 375

    order = []
    await page.get_by_role("button", name="Close chat").focus()
    for _ in range(4):
        order.append(await page.evaluate(_DESCRIBE_FOCUS))
        await page.keyboard.press("Tab")
    assert order == ["button:Close chat", "ol:log", "textarea:Your message", "button:Send"]

    for control in await page.locator("#taskra-chat button, #taskra-chat textarea").all():
        name = await control.evaluate(_ACCESSIBLE_NAME)
        assert name.strip(), await control.evaluate("node => node.outerHTML")
    await expect(page.get_by_role("log")).to_have_attribute("aria-live", "polite")

    await box.focus()
    await page.keyboard.press("Escape")
    await expect(panel).to_be_hidden()
    await expect(launcher).to_be_focused()


async def test_a_rate_limited_visitor_sees_the_servers_message(
    app_browser: AppBrowser, storefront: AppServer, taskra: Taskra
) -> None:
    """A 429 from the server is shown to the visitor in the widget's alert, with the
    server's own words."""
    page, _ = await open_shop(app_browser, storefront)
    await page.get_by_role("button", name="Open chat").click()
    limit = taskra.settings.chat_visitor_messages_per_minute
    # Limits count in fixed one-minute windows: all the messages must fall in one, so start
    # in a fresh window when the current one is nearly over (a slow run once crossed it).
    now = taskra.clock.now()
    if now.second >= 30:
        await asyncio.sleep(60 - now.second - now.microsecond / 1e6 + 0.1)
    for number in range(limit):
        await send(page, f"message {number}")
    box = page.get_by_label("Your message")
    await box.fill("one too many")
    await box.press("Enter")
    await expect(page.get_by_role("alert")).to_contain_text("Please wait a minute")
    await expect(box).to_have_value("one too many")  # kept, to send again later


async def chat_conversation(taskra: Taskra) -> tuple[int, int]:
    async with taskra.db.session() as session:
        conversation = (
            await session.scalars(select(Conversation).where(col(Conversation.channel) == "chat"))
        ).one()
    assert conversation.id is not None
    return conversation.store_id, conversation.id


_DESCRIBE_FOCUS = """() => {
  const node = document.activeElement;
  const tag = node.tagName.toLowerCase();
  if (tag === "ol") return "ol:" + node.getAttribute("role");
  const label = node.getAttribute("aria-label") || (node.labels && node.labels[0]
    ? node.labels[0].textContent : node.textContent);
  return tag + ":" + label.trim();
}"""

_ACCESSIBLE_NAME = """node => node.getAttribute("aria-label")
  || (node.labels && node.labels.length ? node.labels[0].textContent : node.textContent)"""
