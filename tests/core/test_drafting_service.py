"""Drafting as the inbox uses it: message -> draft job -> stored draft -> approval -> one reply.

The reply model here is the test ``MockReplyModel`` (a plugin, as any third-party model is);
everything else is Taskra's own code on a real database with the demo store imported.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from taskra_core import hookimpl
from taskra_core.app import Taskra
from taskra_core.channels import Channel, DeliveryReceipt, Outbound
from taskra_core.demo import FELLANDFORD
from taskra_core.drafting.types import ModelReply, Proposal, TokenUsage
from taskra_core.errors import (
    InvalidInput,
    ModelRejected,
    ModelUnavailable,
    NotFound,
    StartupError,
    UnknownReplyModel,
)
from taskra_core.inbox.messages import InboundMessage
from taskra_core.jobs import Job
from taskra_core.knowledge.importer import import_store
from taskra_core.models import (
    Conversation,
    Customer,
    Draft,
    JobRecord,
    Message,
    PrivacyRequest,
    Store,
    Usage,
)
from taskra_core.testing import MockModelPlugin, MockReplyModel, make_test_taskra
from taskra_core.worker import Worker

AS_OF = datetime(2025, 3, 17, 10, 0, tzinfo=UTC)
DOMAIN = "fellandford.myshopify.com"
PRIYA = "priya.raman84@example.com"  # owns order #1001


class RecordingChannel(Channel):
    """An email channel that remembers what it delivered, keyed like a real provider."""

    name = "email"

    def __init__(self) -> None:
        self.sent: list[Outbound] = []
        self.keys: set[str] = set()

    async def send(self, outbound: Outbound) -> DeliveryReceipt:
        if outbound.idempotency_key not in self.keys:  # a provider drops repeats
            self.keys.add(outbound.idempotency_key)
            self.sent.append(outbound)
        return DeliveryReceipt(channel_message_id=f"<{outbound.idempotency_key}@test>")


class ChannelPlugin:
    __name__ = "recording-channel"

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    @hookimpl
    def register_channels(self, register: Callable[..., None]) -> None:
        register(self.channel.name, lambda settings: self.channel)


class Events:
    __name__ = "events"

    def __init__(self) -> None:
        self.drafts: list[Draft] = []
        self.sent: list[Message] = []

    @hookimpl
    def draft_created(self, draft: Draft) -> None:
        self.drafts.append(draft)

    @hookimpl
    def reply_sent(self, message: Message) -> None:
        self.sent.append(message)


def cited(text: str, intent: str = "product_question", **extra: Any) -> ModelReply:
    return ModelReply(
        text=text,
        model="mock",
        sources=("product:skiddaw-3l-waterproof-jacket-mens",),
        intent=intent,
        language="en",
        confidence=0.9,
        **extra,
    )


async def start(
    database_url: str, model: MockReplyModel, *plugins: object, **settings: Any
) -> Taskra:
    taskra = make_test_taskra(
        database_url,
        plugins=[MockModelPlugin(model), *plugins],
        reply_model="mock",
        now=AS_OF,
        **settings,
    )
    await taskra.startup()
    await import_store(taskra, FELLANDFORD)
    return taskra


@pytest.fixture
def model() -> MockReplyModel:
    return MockReplyModel(
        lambda request: cited("The Skiddaw comes up true to size; go for the XL over a fleece.")
    )


@pytest.fixture
async def core(database_url: str, model: MockReplyModel) -> AsyncIterator[Taskra]:
    taskra = await start(database_url, model)
    try:
        yield taskra
    finally:
        await taskra.shutdown()


async def store_id(taskra: Taskra) -> int:
    async with taskra.db.session() as session:
        store = await session.scalar(select(Store).where(col(Store.domain) == DOMAIN))
    assert store is not None
    assert store.id is not None
    return store.id


async def receive(taskra: Taskra, text: str, sender: str = PRIYA, subject: str = "Hi") -> int:
    received = await taskra.inbox.receive(
        await store_id(taskra),
        InboundMessage(channel="email", from_email=sender, text=text, subject=subject),
    )
    assert received.message.id is not None
    return received.message.id


async def drain(taskra: Taskra) -> None:
    """Run jobs until none is queued or running, waiting out retry back-off (tests use
    millisecond back-off)."""
    for _ in range(400):
        await Worker(taskra).run_until_idle()
        counts = await taskra.jobs.counts()
        if counts["queued"] == 0 and counts["running"] == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("jobs did not settle")


async def drafts(taskra: Taskra) -> list[Draft]:
    async with taskra.db.session() as session:
        return list((await session.scalars(select(Draft).order_by(col(Draft.id)))).all())


async def test_a_received_message_gets_one_stored_draft(
    core: Taskra, model: MockReplyModel
) -> None:
    """message_received queues a draft job; the worker stores one draft with its provenance."""
    message_id = await receive(core, "Does the Skiddaw jacket come up big? I'm a 42in chest.")
    await drain(core)
    [draft] = await drafts(core)
    assert draft.message_id == message_id
    assert draft.state == "drafted"
    assert draft.model == "mock"
    assert draft.sources == ["product:skiddaw-3l-waterproof-jacket-mens"]
    assert draft.intent == "product_question"
    assert draft.escalation_reasons == []
    # The model saw retrieved knowledge and the sender's own orders, grounded for this store.
    [request] = model.requests
    assert any(s.source_id.startswith("product:skiddaw") for s in request.sources)
    assert {o["name"] for o in request.orders} >= {"#1001"}
    assert request.now == AS_OF or request.now - AS_OF < timedelta(minutes=5)


async def test_a_redelivered_message_is_drafted_once(core: Taskra) -> None:
    """The same message delivered twice and workers run twice still give one draft."""
    store = await store_id(core)
    inbound = InboundMessage(
        channel="email", from_email=PRIYA, text="Skiddaw sizing?", channel_message_id="<m1@x>"
    )
    await core.inbox.receive(store, inbound)
    await core.inbox.receive(store, inbound)
    await drain(core)
    await drain(core)
    assert len(await drafts(core)) == 1


async def test_a_draft_job_run_again_after_its_commit_adds_nothing(core: Taskra) -> None:
    """A draft job that runs again once its draft committed (say its worker died before
    marking it done) finds the draft and stops; only a regenerate drafts the message again."""
    store = await store_id(core)
    message = await receive(core, "Skiddaw sizing?")
    await drain(core)
    assert len(await drafts(core)) == 1
    for payload, expected in (({}, 1), ({"regenerate": True}, 2)):
        job = Job(0, "draft", payload, 1, 1, store, "test", AS_OF, None)
        async with core.db.transaction() as session:
            await core.drafting.draft_message(session, job, store, message)
        assert len(await drafts(core)) == expected


async def test_escalating_message_marks_draft_and_conversation(core: Taskra) -> None:
    """A legal threat escalates: the draft says why and the conversation is flagged high."""
    await receive(core, "If this isn't sorted I'm going to Trading Standards and small claims.")
    await drain(core)
    [draft] = await drafts(core)
    assert draft.state == "escalated"
    assert any(r.startswith("legal_threat") for r in draft.escalation_reasons)
    async with core.db.session() as session:
        conversation = await session.get(Conversation, draft.conversation_id)
    assert conversation is not None
    assert conversation.escalated is True
    assert conversation.priority == "high"


async def test_privacy_request_opens_a_ledger_entry_due_in_30_days(core: Taskra) -> None:
    """An erasure request escalates and opens a privacy request due 30 days later."""
    await receive(core, "Under GDPR please delete all the personal data you hold about me.")
    await drain(core)
    [draft] = await drafts(core)
    assert draft.state == "escalated"
    async with core.db.session() as session:
        [request] = (await session.scalars(select(PrivacyRequest))).all()
    assert request.kind == "erasure"
    assert request.subject == PRIYA
    assert request.due_at - request.received_at == timedelta(days=30)


async def test_approve_sends_exactly_one_reply(database_url: str, model: MockReplyModel) -> None:
    """Approving sends through the channel once; approving again or re-running does not."""
    channel, events = RecordingChannel(), Events()
    taskra = await start(database_url, model, ChannelPlugin(channel), events)
    try:
        await receive(taskra, "Skiddaw jacket sizing please", subject="Sizing")
        await drain(taskra)
        [draft] = await drafts(taskra)
        assert draft.id is not None
        store = await store_id(taskra)
        approved = await taskra.drafting.approve(store, draft.id, text="Go for the XL, Priya.")
        assert approved.outcome == "edited"
        with pytest.raises(InvalidInput, match="approved"):
            await taskra.drafting.approve(store, draft.id)
        await drain(taskra)
        assert [o.text for o in channel.sent] == ["Go for the XL, Priya."]
        assert channel.sent[0].subject == "Re: Sizing"
        assert channel.sent[0].to_email == PRIYA
        async with taskra.db.session() as session:
            replies = (
                await session.scalars(select(Message).where(col(Message.direction) == "outbound"))
            ).all()
            sent = await session.get(Draft, draft.id)
        assert [m.text for m in replies] == ["Go for the XL, Priya."]
        assert sent is not None
        assert sent.state == "sent"
        assert [m.id for m in events.sent] == [replies[0].id]
        assert [d.id for d in events.drafts] == [draft.id]
    finally:
        await taskra.shutdown()


async def test_auto_send_only_for_its_intent_and_never_twice(
    database_url: str, model: MockReplyModel
) -> None:
    """auto_send on an intent sends without review, once, even when the job is queued again."""
    channel = RecordingChannel()
    taskra = await start(database_url, model, ChannelPlugin(channel))
    try:
        store = await store_id(taskra)
        await taskra.drafting.set_autonomy(store, "auto_send", intent="product_question")
        await receive(taskra, "Skiddaw sizing?")
        await drain(taskra)
        [draft] = await drafts(taskra)
        assert draft.state == "sent"
        assert draft.outcome == "auto_sent"
        # Whatever asks again for this message (a regenerate, a retry), it has its reply.
        async with taskra.db.transaction() as session:
            await taskra.jobs.enqueue(
                session,
                "send_reply",
                {"draft_id": draft.id},
                store_id=store,
                idempotency_key=f"send_reply:{draft.message_id}",
            )
        await drain(taskra)
        assert len(channel.sent) == 1
    finally:
        await taskra.shutdown()


async def test_auto_send_holds_back_escalations_and_proposals(
    database_url: str,
) -> None:
    """With auto_send as the default, an escalated draft or one proposing a refund waits."""
    refund = cited(
        "Our returns policy gives you 30 days; I've asked the team to refund you.",
        intent="return_request",
        proposals=(Proposal("refund", "#1001", "unworn trousers"),),
    )
    channel = RecordingChannel()
    taskra = await start(database_url, MockReplyModel(refund), ChannelPlugin(channel))
    try:
        store = await store_id(taskra)
        await taskra.drafting.set_autonomy(store, "auto_send")
        await receive(taskra, "I'd like to return the trousers from #1001 please")
        await drain(taskra)
        [draft] = await drafts(taskra)
        assert draft.state == "drafted"
        assert draft.proposals == [
            {"action": "refund", "order": "#1001", "details": "unworn trousers"}
        ]
        assert channel.sent == []
    finally:
        await taskra.shutdown()


async def test_auto_send_stops_once_a_person_has_taken_over(
    database_url: str, model: MockReplyModel
) -> None:
    """With auto_send on, the first answer goes out; after an agent has replied in the
    conversation, or while it is assigned to someone, the AI's drafts wait for that person."""
    channel = RecordingChannel()
    taskra = await start(database_url, model, ChannelPlugin(channel))
    try:
        store = await store_id(taskra)
        await taskra.drafting.set_autonomy(store, "auto_send")
        await receive(taskra, "Skiddaw sizing?", subject="Skiddaw")
        await drain(taskra)
        [first] = await drafts(taskra)
        assert first.state == "sent"
        account = await taskra.accounts.create_account(store, "agent@example.com", "Agent")
        assert account.id is not None
        await taskra.inbox.add_reply(
            store, first.conversation_id, "I will take it.", account_id=account.id
        )
        await receive(taskra, "And the Scafell boots?", subject="Re: Skiddaw")
        await drain(taskra)
        second = (await drafts(taskra))[-1]
        assert second.conversation_id == first.conversation_id
        assert second.state == "drafted"

        await receive(taskra, "Dunmail trousers?", sender="jo@example.com", subject="Trousers")
        await drain(taskra)
        other = (await drafts(taskra))[-1]
        assert other.state == "sent"  # a new conversation: nobody has taken it over
        await taskra.inbox.assign(store, other.conversation_id, account.id)
        await receive(taskra, "Also, gift wrap?", sender="jo@example.com", subject="Re: Trousers")
        await drain(taskra)
        assert (await drafts(taskra))[-1].state == "drafted"
        assert len(channel.sent) == 2
    finally:
        await taskra.shutdown()


async def test_outage_retries_then_shows_a_failed_draft(database_url: str) -> None:
    """A model that stays unavailable is retried, then leaves a failed draft; the message
    is kept and the conversation flagged for a person."""

    def down(request: Any) -> ModelReply:
        raise ModelUnavailable("Claude API error 529: Overloaded")

    model = MockReplyModel(down)
    taskra = await start(database_url, model, draft_max_attempts=3)
    try:
        message_id = await receive(taskra, "Skiddaw sizing?")
        await drain(taskra)
        assert len(model.requests) == 3
        [draft] = await drafts(taskra)
        assert draft.state == "failed"
        assert draft.error is not None
        assert "529" in draft.error
        assert "3 attempts" in draft.error
        async with taskra.db.session() as session:
            assert await session.get(Message, message_id) is not None
            job = await session.scalar(select(JobRecord).where(col(JobRecord.kind) == "draft"))
        assert job is not None
        assert job.state == "done"
    finally:
        await taskra.shutdown()


async def test_refused_request_fails_at_once_and_says_why(database_url: str) -> None:
    """A refusal (bad key) is not retried: one attempt, a failed draft naming the cause."""

    def refused(request: Any) -> ModelReply:
        raise ModelRejected("Claude API refused the request (401): invalid x-api-key.")

    model = MockReplyModel(refused)
    taskra = await start(database_url, model)
    try:
        await receive(taskra, "Skiddaw sizing?")
        await drain(taskra)
        assert len(model.requests) == 1
        [draft] = await drafts(taskra)
        assert draft.state == "failed"
        assert "401" in (draft.error or "")
    finally:
        await taskra.shutdown()


async def test_exhausted_budget_stops_drafting_with_a_reason(
    core: Taskra, model: MockReplyModel
) -> None:
    """At the monthly cap the model is not called and the draft says the budget is used up."""
    store = await store_id(core)
    await core.drafting.set_budget(store, 0)
    await receive(core, "Skiddaw sizing?")
    await drain(core)
    [draft] = await drafts(core)
    assert model.requests == []
    assert draft.state == "escalated"
    assert any(r.startswith("budget_exhausted") for r in draft.escalation_reasons)
    assert (await core.drafting.budget(store)).exhausted is True


async def test_spend_is_recorded_and_caps_the_next_draft(database_url: str) -> None:
    """Usage and cost accumulate per store and month; crossing the budget stops drafting."""
    paid = replace(
        cited("Go for the XL."), model="claude-sonnet-4-6", usage=TokenUsage(1_000, 0, 9_000, 200)
    )
    model = MockReplyModel(paid)
    taskra = await start(database_url, model)
    try:
        store = await store_id(taskra)
        # 1000*3 + 9000*0.3 + 200*15 = 8700 micro-dollars per draft.
        await taskra.drafting.set_budget(store, 0.0087)
        await receive(taskra, "Skiddaw sizing?", subject="one")
        await drain(taskra)
        await receive(taskra, "Skiddaw colours?", subject="two")
        await drain(taskra)
        first, second = await drafts(taskra)
        assert first.cost_micros == 8_700
        assert first.state == "drafted"
        assert second.state == "escalated"
        assert second.cost_micros == 0
        assert len(model.requests) == 1
        async with taskra.db.session() as session:
            usage = await session.scalar(select(Usage).where(col(Usage.store_id) == store))
        assert usage is not None
        assert (usage.period, usage.cost_micros, usage.cache_read_tokens) == (
            "2025-03",
            8_700,
            9_000,
        )
    finally:
        await taskra.shutdown()


async def test_customer_who_objected_to_ai_is_never_sent_to_the_model(
    core: Taskra, model: MockReplyModel
) -> None:
    """A customer's objection to AI processing keeps their text away from the model."""
    await receive(core, "Skiddaw sizing?")
    await drain(core)
    async with core.db.transaction() as session:
        customer = await session.scalar(select(Customer).where(col(Customer.email) == PRIYA))
        assert customer is not None
        customer.ai_processing_objected = True
    await receive(core, "And the colours?", subject="colours")
    await drain(core)
    _first, second = await drafts(core)
    assert len(model.requests) == 1
    assert any(r.startswith("ai_objection") for r in second.escalation_reasons)


async def test_autonomy_off_drafts_nothing(core: Taskra, model: MockReplyModel) -> None:
    """With autonomy off for the store, no draft job is queued."""
    await core.drafting.set_autonomy(await store_id(core), "off")
    await receive(core, "Skiddaw sizing?")
    await drain(core)
    assert await drafts(core) == []
    async with core.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(JobRecord)) == 0


async def test_acceptance_rate_per_intent(core: Taskra) -> None:
    """Unedited, edited and discarded drafts give an acceptance rate per intent."""
    store = await store_id(core)
    for n in range(3):
        await receive(core, f"Skiddaw question {n}", subject=f"q{n}")
    await drain(core)
    a, b, c = await drafts(core)
    assert a.id
    assert b.id
    assert c.id
    await core.drafting.approve(store, a.id)
    await core.drafting.approve(store, b.id, text="Edited reply.")
    await core.drafting.discard(store, c.id)
    [stats] = await core.drafting.acceptance(store)
    assert stats.as_dict() == {
        "intent": "product_question",
        "drafts": 3,
        "unedited": 1,
        "edited": 1,
        "discarded": 1,
        "auto_sent": 0,
        "acceptance_rate": pytest.approx(1 / 3, abs=1e-4),
    }


async def test_drafts_are_scoped_to_their_store(core: Taskra) -> None:
    """Another store's id cannot read, approve or discard a draft."""
    await receive(core, "Skiddaw sizing?")
    await drain(core)
    [draft] = await drafts(core)
    assert draft.id is not None
    now = core.clock.now()
    async with core.db.transaction() as session:
        other = Store(domain="other.myshopify.com", created_at=now, updated_at=now)
        session.add(other)
    assert other.id is not None
    for action in (core.drafting.get, core.drafting.approve, core.drafting.discard):
        with pytest.raises(NotFound):
            await action(other.id, draft.id)


async def test_no_installed_channel_keeps_the_reply_waiting(
    core: Taskra,
) -> None:
    """Without a channel for the message, sending fails visibly and retries; nothing is lost."""
    store = await store_id(core)
    await receive(core, "Skiddaw sizing?")
    await drain(core)
    [draft] = await drafts(core)
    assert draft.id is not None
    await core.drafting.approve(store, draft.id)
    await drain(core)
    [job] = await core.jobs.list(kind="send_reply")
    assert job.state == "dead"
    assert "No channel 'email' is installed" in (job.last_error or "")
    assert (await core.drafting.get(store, draft.id)).state == "approved"


async def test_hook_draft_created(database_url: str, model: MockReplyModel) -> None:
    """draft_created fires once per stored draft, after it is committed."""
    events = Events()
    taskra = await start(database_url, model, events)
    try:
        await receive(taskra, "Skiddaw sizing?")
        await drain(taskra)
        [draft] = await drafts(taskra)
        assert [(d.id, d.state) for d in events.drafts] == [(draft.id, "drafted")]
    finally:
        await taskra.shutdown()


async def test_hook_reply_sent(database_url: str, model: MockReplyModel) -> None:
    """reply_sent fires with the stored outbound message after delivery."""
    channel, events = RecordingChannel(), Events()
    taskra = await start(database_url, model, ChannelPlugin(channel), events)
    try:
        store = await store_id(taskra)
        await taskra.drafting.set_autonomy(store, "auto_send")
        await receive(taskra, "Skiddaw sizing?")
        await drain(taskra)
        [message] = events.sent
        assert message.direction == "outbound"
        assert message.author == "ai"
        assert message.channel_message_id == f"<{channel.sent[0].idempotency_key}@test>"
    finally:
        await taskra.shutdown()


async def test_hook_register_channels(database_url: str, model: MockReplyModel) -> None:
    """A registered channel is found by name; a second one under the same name is refused."""
    channel = RecordingChannel()
    taskra = await start(database_url, model, ChannelPlugin(channel))
    try:
        assert taskra.channels.get("email") is channel
        assert taskra.channels.get("sms") is None
        with pytest.raises(StartupError, match="registered twice"):
            taskra.channels.register("email", lambda settings: channel)
    finally:
        await taskra.shutdown()


async def test_hook_register_reply_models(database_url: str, model: MockReplyModel) -> None:
    """Plugins add reply models by name; TASKRA_REPLY_MODEL picks one; unknown names fail."""
    taskra = await start(database_url, model)
    try:
        assert set(taskra.reply_models.names) >= {"anthropic", "offline", "mock"}
        assert taskra.reply_models.get() is model
        with pytest.raises(UnknownReplyModel, match="registered: anthropic, mock, offline"):
            taskra.reply_models.get("gpt")
        with pytest.raises(StartupError, match="registered twice"):
            taskra.reply_models.register("mock", lambda settings: model)
    finally:
        await taskra.shutdown()


async def test_hook_check_draft(database_url: str, model: MockReplyModel) -> None:
    """A plugin's check_draft reasons escalate the draft alongside the built-in rules."""

    class NoJackets:
        __name__ = "no-jackets"

        @hookimpl
        def check_draft(self, draft: ModelReply) -> list[str]:
            return ["jackets are handled by Sam"] if "Skiddaw" in draft.text else []

    taskra = await start(database_url, model, NoJackets())
    try:
        await receive(taskra, "Skiddaw sizing?")
        await drain(taskra)
        [draft] = await drafts(taskra)
        assert draft.state == "escalated"
        assert draft.escalation_reasons == ["plugin: jackets are handled by Sam"]
    finally:
        await taskra.shutdown()


async def test_edits_made_while_drafting_are_kept(database_url: str) -> None:
    """An agent tagging the conversation while the model works keeps the tag: storing the
    draft updates only the fields drafting owns."""

    class SlowModel(MockReplyModel):
        taskra: Taskra

        async def draft(self, request: Any) -> ModelReply:
            store = await store_id(self.taskra)
            [conversation] = (await self.taskra.inbox.list_conversations(store)).items
            assert conversation.id is not None
            await self.taskra.inbox.add_tags(store, conversation.id, ["vip"])
            return cited("If this isn't sorted I'll see you in small claims court.")

    model = SlowModel()
    taskra = await start(database_url, model)
    model.taskra = taskra
    try:
        await receive(taskra, "I'm going to small claims court over this.")
        await drain(taskra)
        async with taskra.db.session() as session:
            conversation = await session.scalar(select(Conversation))
        assert conversation is not None
        assert conversation.tags == ["vip"]
        assert conversation.escalated is True
    finally:
        await taskra.shutdown()
