"""Merchant notifications: the onboarding sequence, allowance reminders, and service updates
only with consent and a one-click unsubscribe; sent as jobs with idempotency keys, through
the logged outbox without a Resend key and through the real Resend SDK (against the fake
Resend) with one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from taskra_core.app import Taskra
from taskra_core.clock import ManualClock
from taskra_core.demo import FELLANDFORD
from taskra_core.drafting.types import ModelReply
from taskra_core.errors import InvalidInput
from taskra_core.inbox.messages import InboundMessage
from taskra_core.knowledge.importer import import_store
from taskra_core.mail import Email, OutboxMailer
from taskra_core.models import Store
from taskra_core.notifications import (
    notify,
    set_service_updates,
    start_onboarding,
    unsubscribe_token,
    unsubscribe_url,
)
from taskra_core.testing import MockModelPlugin, MockReplyModel, make_test_taskra
from taskra_core.worker import Worker
from tests.fakes.resend import FakeResend

START = datetime(2025, 3, 17, 10, 0, tzinfo=UTC)
DOMAIN = "fellandford.myshopify.com"
DAY = 86400.0


def reply(request: Any) -> ModelReply:
    return ModelReply(
        text="The Skiddaw comes up true to size.",
        model="mock",
        sources=("product:skiddaw-3l-waterproof-jacket-mens",),
        intent="product_question",
        language="en",
        confidence=0.9,
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


async def started(database_url: str, clock: ManualClock, **settings: Any) -> Taskra:
    taskra = make_test_taskra(
        database_url,
        plugins=[MockModelPlugin(MockReplyModel(reply))],
        reply_model="mock",
        clock=clock,
        billing_plans={"free": {"title": "Free", "price_cents": 0, "included_replies": 5}},
        **settings,
    )
    await taskra.startup()
    await import_store(taskra, FELLANDFORD)
    async with taskra.db.transaction() as session:
        store = await session.scalar(select(Store).where(col(Store.domain) == DOMAIN))
        assert store is not None
        store.installed_at = START
    return taskra


@pytest.fixture
async def core(database_url: str, clock: ManualClock) -> AsyncIterator[Taskra]:
    taskra = await started(database_url, clock)
    try:
        yield taskra
    finally:
        await taskra.shutdown()


async def store_of(taskra: Taskra) -> Store:
    async with taskra.db.session() as session:
        store = await session.scalar(select(Store).where(col(Store.domain) == DOMAIN))
    assert store is not None
    return store


async def run(taskra: Taskra) -> None:
    while await Worker(taskra).run_until_idle():
        pass


def outbox(taskra: Taskra) -> list[Email]:
    mailer = taskra.mailer
    assert isinstance(mailer, OutboxMailer)
    return mailer.outbox


async def test_onboarding_arrives_in_sequence_once_per_install(
    core: Taskra, clock: ManualClock
) -> None:
    """Welcome at once, connect-email a day later, enable-chat on day three; queuing the
    sequence again for the same installation adds nothing; each has a text and HTML body."""
    store = await store_of(core)
    for _ in range(2):
        async with core.db.transaction() as session:
            await start_onboarding(core, session, store)
    await run(core)
    assert [e.subject for e in outbox(core)] == ["Welcome to Taskra, Fell & Ford"]
    clock.advance(DAY)
    await run(core)
    clock.advance(2 * DAY)
    await run(core)
    subjects = [e.subject for e in outbox(core)]
    assert subjects[1:] == [
        "Connect your support email to Taskra",
        "Answer shoppers while they browse: turn on Taskra chat",
    ]
    welcome = outbox(core)[0]
    assert welcome.to == store.email
    assert welcome.html is not None
    assert "<h1" in welcome.html
    assert "Fell &amp; Ford" in welcome.html  # the HTML body is escaped
    assert "/usage" in welcome.text
    assert all(e.idempotency_key for e in outbox(core))


async def test_a_store_that_uninstalled_gets_no_more_onboarding(
    core: Taskra, clock: ManualClock
) -> None:
    """The sequence is checked at send time: after an uninstall the later steps are skipped."""
    store = await store_of(core)
    async with core.db.transaction() as session:
        await start_onboarding(core, session, store)
    await run(core)
    async with core.db.transaction() as session:
        row = await session.get(Store, store.id)
        assert row is not None
        row.uninstalled_at = clock.now()
    clock.advance(4 * DAY)
    await run(core)
    assert [e.subject for e in outbox(core)] == ["Welcome to Taskra, Fell & Ford"]


async def test_allowance_reminders_at_80_and_100_percent_once_each(core: Taskra) -> None:
    """With 5 free replies, the 4th reply triggers the 80% email and the 5th the 100% one;
    the 6th message is capped and triggers nothing more."""
    store = await store_of(core)
    assert store.id is not None
    for n in range(6):
        await core.inbox.receive(
            store.id,
            InboundMessage(
                channel="email",
                from_email=f"shopper{n}@example.com",
                text=f"Does the Skiddaw jacket come up big? ({n})",
                subject=f"Sizing {n}",
            ),
        )
        await run(core)
    subjects = [e.subject for e in outbox(core)]
    assert subjects == [
        "Fell & Ford has used 80% of its AI replies for 2025-03",
        "Fell & Ford has used all its included AI replies for 2025-03",
    ]
    assert "upgrade" in outbox(core)[1].text.lower()


async def test_service_updates_need_consent_and_unsubscribe_in_one_click(core: Taskra) -> None:
    """No consent, no service update. With consent it carries a signed unsubscribe link and
    the RFC 8058 headers; a wrong token changes nothing; the right one unsubscribes."""
    store = await store_of(core)
    assert store.id is not None
    update = {"headline": "Chat handover is here", "body": "Agents can now take over chats."}
    async with core.db.transaction() as session:
        await notify(core, session, store.id, "service_update", key="2025-03-a", context=update)
    await run(core)
    assert outbox(core) == []

    await set_service_updates(core, store.id, True)
    async with core.db.transaction() as session:
        await notify(core, session, store.id, "service_update", key="2025-03-b", context=update)
    await run(core)
    [sent] = outbox(core)
    link = unsubscribe_url(core, store.id)
    assert link in sent.text
    assert sent.html is not None
    assert link.replace("&", "&amp;") in sent.html
    assert sent.headers["List-Unsubscribe"] == f"<{link}>"
    assert sent.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    with pytest.raises(InvalidInput):
        await set_service_updates(core, store.id, False, token="forged")
    assert (await store_of(core)).settings["service_updates"] is True
    await set_service_updates(core, store.id, False, token=unsubscribe_token(core, store.id))
    async with core.db.transaction() as session:
        await notify(core, session, store.id, "service_update", key="2025-03-c", context=update)
    await run(core)
    assert len(outbox(core)) == 1


async def test_an_unknown_notice_is_refused(core: Taskra) -> None:
    """A notice kind without templates is an InvalidInput naming the kinds, queuing nothing."""
    store = await store_of(core)
    assert store.id is not None
    async with core.db.transaction() as session:
        with pytest.raises(InvalidInput, match="welcome"):
            await notify(core, session, store.id, "birthday", key="x")
    assert (await core.jobs.counts())["queued"] == 0


async def test_with_a_resend_key_notices_go_through_resend(
    database_url: str, clock: ManualClock, fake_resend: FakeResend
) -> None:
    """With RESEND_API_KEY the notice reaches Resend (text and HTML, an idempotency key),
    once, though the event that calls for it happened twice."""
    taskra = await started(
        database_url,
        clock,
        resend_api_key="re_test_key",
        resend_api_url=fake_resend.url,
        email_from="Taskra <hello@taskra.test>",
    )
    try:
        store = await store_of(taskra)
        context = {"amount": "19.00 USD", "invoice": "TASKRA-0001"}
        for _ in range(2):
            async with taskra.db.transaction() as session:
                await notify(
                    taskra, session, store.id or 0, "payment_failed", key="in_1", context=context
                )
            await run(taskra)
        [sent] = fake_resend.sent
        assert sent.to == [store.email]
        assert sent.subject == "Payment for Taskra failed for Fell & Ford"
        assert sent.html is not None
        assert sent.idempotency_key
    finally:
        await taskra.shutdown()
