"""The email round trip, end to end over HTTP: a customer's raw email becomes a conversation
and an offline draft; the approved reply goes out through the real Resend SDK to the fake
with the headers that thread it; the customer's answer threads back; a Resend outage while
sending delays the reply, and exactly one email goes out when Resend recovers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col
from starlette.applications import Starlette
from taskra_email import plugin
from taskra_email.signing import sign

import taskra_shopify.plugin
from taskra_core.app import Taskra
from taskra_core.clock import ManualClock
from taskra_core.demo import FELLANDFORD
from taskra_core.knowledge.importer import import_store
from taskra_core.models import Message
from taskra_core.testing import make_test_taskra
from taskra_core.worker import Worker
from taskra_shopify.app import create_app
from tests.channels.test_email_inbound import DOMAIN, PRIYA, SECRET, STORE_ADDRESS, raw_email
from tests.fakes.resend import FakeResend, dropped, server_error


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2025, 3, 17, 10, 0, tzinfo=UTC))


@pytest.fixture
async def running(
    database_url: str, fake_resend: FakeResend, clock: ManualClock
) -> AsyncIterator[tuple[Taskra, httpx.AsyncClient]]:
    taskra = make_test_taskra(
        database_url,
        plugins=[plugin, taskra_shopify.plugin],
        clock=clock,
        email_inbound_domain=DOMAIN,
        email_inbound_secret=SECRET,
        resend_api_key="re_test_key",
        resend_api_url=fake_resend.url,
        email_from="Taskra Replies <replies@taskra.test>",
    )
    app: Starlette = create_app(taskra, run_worker=False)
    async with app.router.lifespan_context(app):
        await import_store(taskra, FELLANDFORD)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://taskra.test") as c:
            yield taskra, c


async def _receive_and_approve(taskra: Taskra, client: httpx.AsyncClient) -> dict[str, Any]:
    raw = raw_email(message_id="<CAF-q1@mail.example.com>")
    response = await client.post("/channels/email/inbound", content=raw, headers=sign(SECRET, raw))
    assert response.status_code == 201, response.text
    stored = response.json()
    await Worker(taskra).run_until_idle()  # drafts offline
    async with taskra.db.session() as session:
        message = await session.get(Message, stored["message_id"])
    assert message is not None
    [draft] = await taskra.drafting.for_conversation(message.store_id, stored["conversation_id"])
    assert draft.id is not None
    await taskra.drafting.approve(
        message.store_id, draft.id, text="Yes Priya, send them back.\n\nFell & Ford"
    )
    return {**stored, "store_id": message.store_id}


async def test_raw_email_in_reply_out_with_threading_and_the_answer_threads_back(
    running: tuple[Taskra, httpx.AsyncClient], fake_resend: FakeResend
) -> None:
    """One email to the customer: Re: subject, In-Reply-To/References their Message-ID, the
    store's name on the sender, its inbound address as Reply-To, text and HTML bodies, the
    store tag and an idempotency key. Their answer (In-Reply-To our id) joins the thread."""
    taskra, client = running
    stored = await _receive_and_approve(taskra, client)
    await Worker(taskra).run_until_idle()
    [sent] = fake_resend.sent
    assert sent.to == [PRIYA]
    assert sent.subject == "Re: Trousers too long"
    assert sent.headers["In-Reply-To"] == "<CAF-q1@mail.example.com>"
    assert sent.headers["References"] == "<CAF-q1@mail.example.com>"
    assert sent.sender == "Fell & Ford <replies@taskra.test>"
    assert sent.reply_to == STORE_ADDRESS
    assert sent.text == "Yes Priya, send them back.\n\nFell & Ford"
    assert sent.html is not None
    assert "<p>Fell &amp; Ford</p>" in sent.html
    assert sent.body["tags"] == [{"name": "taskra_store", "value": str(stored["store_id"])}]
    assert sent.idempotency_key
    answer = raw_email(
        subject="Re: Trousers too long",
        body="Great, thanks!\n\nOn Mon, Fell & Ford wrote:\n> Yes Priya, send them back.",
        message_id="<CAF-q2@mail.example.com>",
        headers={"In-Reply-To": sent.headers["Message-ID"]},
    )
    response = await client.post(
        "/channels/email/inbound", content=answer, headers=sign(SECRET, answer)
    )
    assert response.status_code == 201
    assert response.json()["conversation_id"] == stored["conversation_id"]
    async with taskra.db.session() as session:
        texts = [
            m.text
            for m in (await session.execute(select(Message).order_by(col(Message.id)))).scalars()
        ]
    assert texts[-1] == "Great, thanks!"


async def test_a_resend_outage_while_sending_delivers_exactly_one_reply(
    running: tuple[Taskra, httpx.AsyncClient], fake_resend: FakeResend, clock: ManualClock
) -> None:
    """Resend answers 503, drops the connection, then 500; the send job retries with
    backoff and, once Resend is back, exactly one email goes out and one reply is stored."""
    taskra, client = running
    await _receive_and_approve(taskra, client)
    fake_resend.fail(server_error(503), dropped(), server_error(500))
    for _ in range(6):
        await Worker(taskra).run_until_idle()
        clock.advance(3600)
    assert len(fake_resend.sent) == 1
    async with taskra.db.session() as session:
        outbound = (
            (await session.execute(select(Message).where(col(Message.direction) == "outbound")))
            .scalars()
            .all()
        )
    assert len(outbound) == 1
