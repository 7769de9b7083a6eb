"""The email channel's section of the settings page (through the shell's
``settings_sections`` hook): the store's inbound address with forwarding instructions, or
what the operator must set when inbound mail is not configured."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col
from taskra_email import plugin

import taskra_shopify.plugin
from taskra_core import crypto
from taskra_core.demo import FELLANDFORD
from taskra_core.inbox.messages import InboundMessage
from taskra_core.knowledge.importer import import_store
from taskra_core.models import Customer
from taskra_core.stores import get_store
from taskra_core.testing import make_test_taskra
from taskra_shopify.app import create_app

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto, "BCRYPT_ROUNDS", 4)


async def _page(database_url: str, path: str = "/knowledge", **overrides: Any) -> str:
    """The page at ``path`` for the demo store's merchant; ``{conversation}`` in the path is
    replaced by the id of a conversation whose customer's email bounced."""
    taskra = make_test_taskra(
        database_url,
        plugins=[plugin, taskra_shopify.plugin],
        now=datetime(2025, 3, 17, 10, 0, tzinfo=UTC),
        **overrides,
    )
    app = create_app(taskra, run_worker=False)
    async with app.router.lifespan_context(app):
        await import_store(taskra, FELLANDFORD)
        async with taskra.db.session() as session:
            store = await get_store(session, "fellandford.myshopify.com")
        assert store.id is not None
        await taskra.accounts.create_account(
            store.id, "owner@example.com", "Owner", role="merchant", password=PASSWORD
        )
        received = await taskra.inbox.receive(
            store.id, InboundMessage(channel="email", from_email="gone@example.com", text="Hi")
        )
        async with taskra.db.transaction() as session:
            await session.execute(
                update(Customer)
                .where(col(Customer.id) == received.conversation.customer_id)
                .values(email_status="bounced")
            )
        path = path.format(conversation=received.conversation.id)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://taskra.test") as c:
            login = await c.post(
                "/login", json={"email": "owner@example.com", "password": PASSWORD}
            )
            assert login.status_code == 200, login.text
            response = await c.get(path)
    assert response.status_code == 200
    return response.text


async def test_hook_settings_sections(database_url: str) -> None:
    """With an inbound domain, the page shows the store's address and how to forward mail,
    and counts the customers whose address bounced."""
    page = await _page(database_url, email_inbound_domain="in.taskra.test")
    assert '<s-section heading="Email">' in page
    assert "<code data-inbound-address>fellandford@in.taskra.test</code>" in page
    assert "forward your public support address" in page
    assert "1 customer address bounced or reported our email as spam" in page


async def test_without_an_inbound_domain_the_section_names_the_setting(
    database_url: str,
) -> None:
    """Unconfigured, the section says inbound email is not set up and which variable fixes it."""
    page = await _page(database_url)
    assert "Inbound email is not set up" in page
    assert "TASKRA_EMAIL_INBOUND_DOMAIN" in page
    assert "data-inbound-address" not in page


async def test_the_conversation_page_says_when_the_customers_email_bounced(
    database_url: str,
) -> None:
    """A customer marked bounced (by Resend's event) carries a notice on their conversation."""
    page = await _page(database_url, "/conversations/{conversation}")
    assert 'data-email-status="bounced"' in page
    assert "Email to this address bounced" in page
