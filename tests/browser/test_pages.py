"""The admin pages in a real browser: the inbox, a conversation, editing and sending a draft,
a customer's reply arriving live, stored XSS staying inert, and a standalone session
changing settings through the page's own controls (so the CSRF header path is exercised)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select

from taskra_core.app import Taskra
from taskra_core.demo import FELLANDFORD
from taskra_core.inbox.messages import InboundMessage
from taskra_core.knowledge.importer import import_store
from taskra_core.models import Conversation
from taskra_core.stores import get_store
from taskra_core.testing import FakeChannel, FakeChannelPlugin, make_test_taskra
from taskra_core.worker import Worker
from tests.browser.harness import AppBrowser
from tests.fakes.shopify import CLIENT_ID, CLIENT_SECRET, SHOP, FakeShopify

PRIYA = "priya.raman84@example.com"  # owns order #1038 in the demo store
SUBJECT = "Where is my order #1038?"
PASSWORD = "correct horse battery"
XSS = (
    '<img src=x onerror="window.__xss = 1"><script>window.__xss = 2</script>'
    '<svg onload="window.__xss = 3"></svg> Hello'
)


@pytest.fixture
def channel() -> FakeChannel:
    return FakeChannel("email")


@pytest.fixture
async def taskra(
    database_url: str, fake_shopify: FakeShopify, channel: FakeChannel
) -> AsyncIterator[Taskra]:
    """The demo store, an email channel that records what it sends, and live updates polled
    often so the browser sees changes quickly."""
    core = make_test_taskra(
        database_url,
        plugins=[FakeChannelPlugin(channel)],
        shopify_api_key=CLIENT_ID,
        shopify_api_secret=CLIENT_SECRET,
        shopify_origin=fake_shopify.origin,
        events_poll_seconds=0.1,
        events_stream_seconds=3.0,
    )
    async with core:
        await import_store(core, FELLANDFORD)
        yield core


async def store_id(taskra: Taskra) -> int:
    async with taskra.db.session() as session:
        store = await get_store(session, SHOP)
    assert store.id is not None
    return store.id


async def receive(
    taskra: Taskra,
    text: str,
    subject: str = SUBJECT,
    sender: str = PRIYA,
    name: str | None = "Priya Raman",
) -> None:
    await taskra.inbox.receive(
        await store_id(taskra),
        InboundMessage(
            channel="email", from_email=sender, from_name=name, subject=subject, text=text
        ),
    )


async def ready(page: Page) -> None:
    """Wait until the page's script runs: before that a control does nothing."""
    await expect(page.locator("body[data-ready]")).to_have_count(1)


async def open_conversation(page: Page, name: str) -> None:
    await page.get_by_role("link", name=name).first.click()
    await page.wait_for_url("**/conversations/**")
    await expect(page.locator("textarea#draft-text")).to_be_visible()
    await ready(page)


async def test_edit_and_send_a_draft_then_the_reply_arrives_live(
    app_browser: AppBrowser, taskra: Taskra, channel: FakeChannel
) -> None:
    """Inside Shopify admin: the inbox lists the new message, the conversation shows the
    offline draft, the merchant edits and sends it (the channel gets the edited text), and
    the customer's answer appears on the open page without a reload."""
    await receive(taskra, "Hi, my order #1038 has not shipped yet. Any news?")
    await Worker(taskra).run_until_idle()  # the draft
    page = await app_browser.open_embedded("/")
    await ready(page)
    await expect(page.get_by_text("Priya Raman")).to_be_visible()
    await expect(page.locator(".unread-marker")).to_have_count(1)

    await open_conversation(page, "Priya Raman")
    assert "id_token=" in page.url  # navigation carried a fresh session token, no bounce
    await expect(page.get_by_text("has not shipped yet")).to_be_visible()
    await expect(page.locator(".sources code", has_text="order:#1038")).to_be_visible()
    await expect(page.locator(".orders")).to_contain_text("#1038")

    edited = "Hello Priya, your order #1038 leaves our Kendal warehouse tomorrow. Fell & Ford"
    await page.locator("textarea#draft-text").fill(edited)
    await page.get_by_role("button", name="Approve and send").click()
    await expect(page.locator("#notice")).to_have_text("Saved.")
    await Worker(taskra).run_until_idle()  # the send job delivers through the channel
    assert [sent.text for sent in channel.sent] == [edited]
    await expect(page.locator(".message.outbound .message-text")).to_have_text(edited)

    await receive(taskra, "Brilliant, thank you!", subject=f"Re: {SUBJECT}")
    await expect(page.get_by_text("Brilliant, thank you!")).to_be_visible()
    assert app_browser.blocked_requests == []


async def test_the_page_keeps_text_being_typed_when_an_update_arrives(
    app_browser: AppBrowser, taskra: Taskra
) -> None:
    """A live update re-renders the conversation, but a draft the merchant is editing keeps
    the merchant's words: nothing typed is lost."""
    await receive(taskra, "Does #1038 ship this week?")
    await Worker(taskra).run_until_idle()
    page = await app_browser.open_embedded("/")
    await open_conversation(page, "Priya Raman")
    await page.locator("textarea#draft-text").fill("Half-written answer")
    await receive(taskra, "Also, can I add a map case?", subject=f"Re: {SUBJECT}")
    await expect(page.get_by_text("Also, can I add a map case?")).to_be_visible()
    await expect(page.locator("textarea#draft-text")).to_have_value("Half-written answer")


async def test_script_in_a_customer_message_stays_inert(
    app_browser: AppBrowser, taskra: Taskra
) -> None:
    """Stored XSS: markup in a message shows as text in the inbox preview and the thread and
    never runs (the harness fails the test if the canary is touched)."""
    await receive(taskra, XSS, subject="Hello", sender="mallory@example.com", name=None)
    await Worker(taskra).run_until_idle()
    page = await app_browser.open_embedded("/")
    await expect(page.locator(".preview").first).to_contain_text("<script>window.__xss = 2")
    await page.get_by_role("link", name="mallory@example.com").first.click()
    thread = page.locator(".message.inbound .message-text")
    await expect(thread).to_contain_text('<img src=x onerror="window.__xss = 1">')
    assert await page.evaluate("window.__xss") is None
    assert await page.locator(".message-text img, .message-text script, svg").count() == 0


async def test_a_standalone_session_changes_status_and_brand_voice(
    app_browser: AppBrowser, taskra: Taskra
) -> None:
    """Outside Shopify admin, with the session cookie: the status control and the brand voice
    form write through the API (their CSRF header accepted) and the database changes."""
    sid = await store_id(taskra)
    await taskra.accounts.create_account(
        sid, "owner@example.com", "Owner", role="merchant", password=PASSWORD
    )
    await receive(taskra, "Is #1038 on its way?")
    page = await app_browser.open_standalone("/", email="owner@example.com", password=PASSWORD)
    await page.get_by_role("link", name="Priya Raman").first.click()
    await page.wait_for_url("**/conversations/**")
    await ready(page)
    await page.get_by_label("Status").select_option("pending")
    await expect(page.locator("#notice")).to_have_text("Saved.")
    async with taskra.db.session() as session:
        [conversation] = (await session.scalars(select(Conversation))).all()
    assert conversation.status == "pending"

    await page.get_by_role("link", name="Knowledge and settings").click()
    await page.wait_for_url("**/knowledge")
    await ready(page)
    voice = "Warm, brief, signed 'The Fell & Ford team'."
    await page.locator("textarea#brand-voice").fill(voice)
    await page.get_by_role("button", name="Save brand voice").click()
    await expect(page.locator("#notice")).to_have_text("Saved.")
    assert await taskra.knowledge.brand_voice(sid) == voice
