"""The chat plugin's part in privacy requests: a customer's visitor sessions appear in their
data export and go with their erasure, and no other visitor's session is touched."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import taskra_chat.plugin
from sqlalchemy import select
from sqlmodel import col
from taskra_chat.proxy import ProxyCaller
from taskra_chat.service import Chat

from taskra_core.app import Taskra
from taskra_core.clock import ManualClock
from taskra_core.demo import FELLANDFORD
from taskra_core.knowledge.importer import import_store
from taskra_core.models import ChatRateCounter, ChatSession, Customer, Store
from taskra_core.testing import make_test_taskra

SHOP = "fellandford.myshopify.com"
ANONYMOUS = ProxyCaller(shop=SHOP, customer_id=None)


@pytest.fixture
async def taskra(database_url: str) -> AsyncIterator[Taskra]:
    core = make_test_taskra(database_url, plugins=[taskra_chat.plugin], shopify_api_secret="s")
    async with core:
        await import_store(core, FELLANDFORD)
        yield core


async def customer_and_store(taskra: Taskra, email: str) -> tuple[Customer, Store]:
    async with taskra.db.session() as session:
        customer = (
            await session.scalars(select(Customer).where(col(Customer.email) == email))
        ).one()
        store = await session.get(Store, customer.store_id)
    assert store is not None
    return customer, store


async def test_a_customers_chat_sessions_are_exported_and_erased(taskra: Taskra) -> None:
    """Jo's session (she gave her email) is in her export with its times and the typed email,
    and her erasure deletes it; another visitor's session stays."""
    chat = Chat(taskra)
    jo = await chat.post(ANONYMOUS, None, "Do you ship to Norway?", email="jo@example.com")
    other = await chat.post(ANONYMOUS, None, "Hello")
    assert jo.token is not None
    assert other.token is not None
    customer, store = await customer_and_store(taskra, "jo@example.com")

    async with taskra.db.transaction() as session:
        sections = await taskra.hooks.export_subject_data(taskra, session, store, customer)
    [exported] = sections["chat_sessions"]
    assert exported["email_given"] == "jo@example.com"
    assert exported["started_at"]
    assert exported["signed_in_customer_id"] is None

    async with taskra.db.transaction() as session:
        labels = await taskra.hooks.erase_subject_data(taskra, session, store, customer)
    assert "chat sessions: 1" in labels
    async with taskra.db.session() as session:
        left = list(await session.scalars(select(ChatSession)))
    assert len(left) == 1
    assert left[0].email is None
    async with taskra.db.transaction() as session:
        again = await taskra.hooks.erase_subject_data(taskra, session, store, customer)
    assert not any(label.startswith("chat") for label in again)  # idempotent


async def test_erasing_the_shop_deletes_every_chat_session(taskra: Taskra) -> None:
    """shop/redact (no customer) removes all of the store's chat sessions."""
    chat = Chat(taskra)
    await chat.post(ANONYMOUS, None, "One")
    await chat.post(ProxyCaller(shop=SHOP, customer_id="42"), None, "Two")
    async with taskra.db.session() as session:
        store = (await session.scalars(select(Store).where(col(Store.domain) == SHOP))).one()
    async with taskra.db.transaction() as session:
        labels = await taskra.hooks.erase_subject_data(taskra, session, store, None)
    assert "chat sessions: 2" in labels
    async with taskra.db.session() as session:
        assert list(await session.scalars(select(ChatSession))) == []


async def test_unused_sessions_and_old_rate_counts_are_swept(database_url: str) -> None:
    """Retention: a session unused for the message retention period (365 days) and rate
    counts older than a day are deleted; a session in use and today's counts stay."""
    clock = ManualClock(datetime(2026, 1, 5, 12, 0, tzinfo=UTC))
    core = make_test_taskra(
        database_url, plugins=[taskra_chat.plugin], shopify_api_secret="s", clock=clock
    )
    async with core:
        await import_store(core, FELLANDFORD)
        chat = Chat(core)
        await chat.post(ANONYMOUS, None, "Long ago")
        clock.advance(366 * 24 * 3600)
        sweep = ["chat.sessions", "chat.rate-counters"]
        report = await core.retention.run(only=sweep)
        assert {r.name: r.total for r in report.results} == {
            "chat.sessions": 1,
            "chat.rate-counters": 2,  # the visitor's and the store's window
        }
        recent = await chat.post(ANONYMOUS, None, "Just now")
        again = await core.retention.run(only=sweep)
        assert [r.total for r in again.results] == [0, 0]
        async with core.db.session() as session:
            [kept] = list(await session.scalars(select(ChatSession)))
            windows = list(await session.scalars(select(ChatRateCounter)))
        assert recent.token is not None
        assert kept.last_seen_at == clock.now()
        assert len(windows) == 2
