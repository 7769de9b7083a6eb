"""Sending an approved (or auto-send) draft through its channel: the ``send_reply`` job.

Exactly one reply per customer message: the job is keyed by the message (see
``Drafting._enqueue_send``), the channel gets the same idempotency key on every retry, and
the stored outbound message is written in the job's transaction, after delivery. If the
process dies between delivery and commit, the retry delivers with the same key (the provider
drops the repeat) and then stores the message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from taskra_core.channels import Outbound
from taskra_core.drafting.service import REPLY_SENT_JOB
from taskra_core.errors import DeliveryError
from taskra_core.models import Conversation, Customer, Draft, Message, Store

if TYPE_CHECKING:
    from taskra_core.app import Taskra

SENDABLE = ("approved", "auto_send")


async def send_draft(taskra: Taskra, session: AsyncSession, store_id: int, draft_id: int) -> None:
    draft = await session.get(Draft, draft_id)
    if draft is None or draft.store_id != store_id:
        return  # erased since (privacy): nothing left to send
    if draft.state not in SENDABLE:
        return  # sent already, or discarded after approval
    inbound = await session.get(Message, draft.message_id)
    conversation = await session.get(Conversation, draft.conversation_id)
    if inbound is None or conversation is None:
        return
    customer = await session.get(Customer, conversation.customer_id)
    store = await session.get(Store, store_id)
    assert customer is not None
    assert store is not None
    channel = taskra.channels.get(inbound.channel)
    if channel is None:
        installed = ", ".join(taskra.channels.names) or "none"
        raise DeliveryError(
            f"No channel {inbound.channel!r} is installed to send replies (installed: "
            f"{installed}); the reply waits and is retried."
        )
    text = draft.final_text or draft.text
    subject = conversation.subject or ""
    if subject and inbound.channel == "email" and not subject.lower().startswith("re:"):
        subject = f"Re: {subject}"
    receipt = await channel.send(
        Outbound(
            store_id=store_id,
            conversation_id=conversation.id,  # type: ignore[arg-type]
            channel=inbound.channel,
            to_email=customer.email,
            to_name=customer.name,
            text=text,
            subject=subject,
            in_reply_to=inbound.channel_message_id,
            thread_key=conversation.thread_key,
            store_domain=store.domain,
            store_name=store.name,
            idempotency_key=f"taskra-reply-{store_id}-{inbound.id}",
        )
    )
    now = taskra.clock.now()
    reply = Message(
        store_id=store_id,
        conversation_id=conversation.id,  # type: ignore[arg-type]
        channel=inbound.channel,
        channel_message_id=receipt.channel_message_id or f"taskra-reply-{inbound.id}",
        direction="outbound",
        author="ai" if draft.state == "auto_send" else "agent",
        text=text,
        meta={"draft_id": draft.id, "provider_id": receipt.provider_id},
        created_at=now,
    )
    session.add(reply)
    draft.state, draft.updated_at = "sent", now
    conversation.first_response_at = conversation.first_response_at or now
    conversation.last_message_at = max(conversation.last_message_at or now, now)
    conversation.updated_at = now
    await session.flush()
    await taskra.jobs.enqueue(
        session,
        REPLY_SENT_JOB,
        {"message_id": reply.id},
        store_id=store_id,
        idempotency_key=f"reply_sent:{reply.id}",
    )
