"""Replies by email: an approved draft goes out through the email channel with the headers
that thread it under the customer's message, once, and its Message-ID threads the
customer's answer back into the same conversation."""

from __future__ import annotations

from datetime import UTC, datetime

from taskra_email import plugin
from taskra_email.outbound import EmailChannel

from taskra_core.app import Taskra
from taskra_core.demo import FELLANDFORD
from taskra_core.inbox.messages import InboundMessage
from taskra_core.knowledge.importer import import_store
from taskra_core.mail import OutboxMailer
from taskra_core.stores import get_store
from taskra_core.testing import make_test_taskra
from taskra_core.worker import Worker
from tests.fakes.resend import FakeResend

AS_OF = datetime(2025, 3, 17, 10, 0, tzinfo=UTC)
PRIYA = "priya.raman84@example.com"
CUSTOMER_ID = "<CAF=abc123@mail.example.com>"


async def _approved_reply(core: Taskra) -> tuple[int, int]:
    """A customer email, drafted offline and approved; returns (store id, conversation id)."""
    await import_store(core, FELLANDFORD)
    async with core.db.session() as session:
        store = await get_store(session, "fellandford.myshopify.com")
    assert store.id is not None
    received = await core.inbox.receive(
        store.id,
        InboundMessage(
            channel="email",
            from_email=PRIYA,
            subject="Trousers too long",
            text="Can I send the Dunmail trousers from #1001 back for a shorter leg?",
            channel_message_id=CUSTOMER_ID,
        ),
    )
    await Worker(core).run_until_idle()
    [draft] = await core.drafting.for_conversation(store.id, received.conversation.id)
    assert draft.id is not None
    await core.drafting.approve(store.id, draft.id, text="Yes Priya, send them back to us.")
    return store.id, received.conversation.id


async def test_an_approved_reply_is_emailed_once_with_threading_headers(
    database_url: str, fake_resend: FakeResend
) -> None:
    """Through Resend (the fake): one email to the customer, "Re:" subject, In-Reply-To and
    References naming their Message-ID, our own Message-ID, and Resend's idempotency key; a
    second run of the worker sends nothing more."""
    core = make_test_taskra(
        database_url,
        plugins=[plugin],
        now=AS_OF,
        resend_api_key="re_test_key",
        resend_api_url=fake_resend.url,
        email_from="Fell & Ford <support@fellandford.example.com>",
    )
    async with core:
        await _approved_reply(core)
        await Worker(core).run_until_idle()
        await Worker(core).run_until_idle()
    [sent] = fake_resend.sent
    assert sent.to == [PRIYA]
    assert sent.subject == "Re: Trousers too long"
    assert sent.text == "Yes Priya, send them back to us."
    assert sent.headers["In-Reply-To"] == CUSTOMER_ID
    assert sent.headers["References"] == CUSTOMER_ID
    assert sent.headers["Message-ID"].endswith("@fellandford.example.com>")
    assert sent.idempotency_key is not None


async def test_the_customers_answer_threads_into_the_same_conversation(database_url: str) -> None:
    """Without a Resend key the reply goes to the logged outbox; the stored reply carries our
    Message-ID, and an answer In-Reply-To it joins the conversation even with a new subject."""
    core = make_test_taskra(database_url, plugins=[plugin], now=AS_OF)
    async with core:
        store_id, conversation_id = await _approved_reply(core)
        await Worker(core).run_until_idle()
        channel = core.channels.get("email")
        assert isinstance(channel, EmailChannel)
        assert isinstance(channel.mailer, OutboxMailer)
        [email] = channel.mailer.outbox
        ours = email.headers["Message-ID"]
        answer = await core.inbox.receive(
            store_id,
            InboundMessage(
                channel="email",
                from_email=PRIYA,
                subject="Returns label?",
                text="Thanks! Do you send a label?",
                channel_message_id="<CAF=def456@mail.example.com>",
                in_reply_to=ours,
            ),
        )
    assert answer.conversation.id == conversation_id
