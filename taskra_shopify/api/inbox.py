"""Inbox endpoints: conversations, messages, notes, assignment, status, tags, drafts."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from taskra_core.errors import InvalidInput
from taskra_core.inbox.listing import ConversationFilter
from taskra_shopify.api import serialize
from taskra_shopify.api.endpoint import Call
from taskra_shopify.api.v1 import api


class StatusBody(BaseModel):
    status: Literal["open", "pending", "snoozed", "closed"]
    snoozed_until: datetime | None = None


class AssignBody(BaseModel):
    account_id: int | None = Field(description="An account of this store, or null to unassign.")


class TagsBody(BaseModel):
    tags: list[str] = Field(max_length=50)


class NoteBody(BaseModel):
    text: str = Field(min_length=1, max_length=20_000)


class ApproveBody(BaseModel):
    text: str | None = Field(
        default=None, max_length=20_000, description="The reply as edited; omit to send as drafted."
    )


def _flag(call: Call, name: str) -> bool | None:
    value = call.query(name)
    if value is None:
        return None
    if value not in ("true", "false"):
        raise InvalidInput(f"Query parameter {name!r} must be true or false.")
    return value == "true"


@api.get(
    "/conversations",
    summary="List conversations, newest activity first",
    tag="inbox",
    query=(
        ("status", "open, pending, snoozed or closed"),
        ("assignee_id", "an account id; 0 for unassigned"),
        ("channel", "email, chat, ..."),
        ("tag", "only conversations with this tag"),
        ("intent", "the intent drafting classified"),
        ("escalated", "true or false"),
        ("limit", "1 to 100 (default 50)"),
        ("cursor", "next_cursor of the previous page"),
    ),
)
async def list_conversations(call: Call) -> dict[str, Any]:
    filters = ConversationFilter(
        status=call.query("status"),
        assignee_id=call.int_query("assignee_id"),
        channel=call.query("channel"),
        tag=call.query("tag"),
        intent=call.query("intent"),
        escalated=_flag(call, "escalated"),
    )
    page = await call.taskra.inbox.list_conversations(
        call.store_id, filters, limit=call.int_query("limit", 50) or 50, cursor=call.query("cursor")
    )
    rows = await call.taskra.inbox.rows(call.store_id, page.items, call.principal.account_id)
    return {
        "conversations": [serialize.inbox_row(row) for row in rows],
        "next_cursor": page.next_cursor,
    }


@api.get(
    "/search",
    summary="Search messages and customers",
    tag="inbox",
    query=(("q", "words to find (all must match)"), ("limit", "1 to 100 (default 20)")),
)
async def search(call: Call) -> dict[str, Any]:
    results = await call.taskra.inbox.search(
        call.store_id, call.query("q") or "", limit=call.int_query("limit", 20) or 20
    )
    return {
        "messages": [serialize.message(m) for m in results.messages],
        "customers": [serialize.customer(c) for c in results.customers],
    }


@api.get(
    "/conversations/{conversation_id:int}",
    summary="Open a conversation: its customer, messages and drafts",
    tag="inbox",
)
async def open_conversation(call: Call, conversation_id: int) -> dict[str, Any]:
    thread = await call.taskra.inbox.open_conversation(call.store_id, conversation_id)
    drafts = await call.taskra.drafting.for_conversation(call.store_id, conversation_id)
    return {
        "conversation": serialize.conversation(thread.conversation),
        "customer": serialize.customer(thread.customer),
        "messages": [serialize.message(m) for m in thread.messages],
        "drafts": [serialize.draft(d) for d in drafts],
    }


@api.post(
    "/conversations/{conversation_id:int}/status",
    summary="Set a conversation's status",
    body=StatusBody,
    tag="inbox",
)
async def set_status(call: Call, body: StatusBody, conversation_id: int) -> dict[str, Any]:
    conversation = await call.taskra.inbox.set_status(
        call.store_id, conversation_id, body.status, snoozed_until=body.snoozed_until
    )
    return serialize.conversation(conversation)


@api.post(
    "/conversations/{conversation_id:int}/assign",
    summary="Assign a conversation to an account, or unassign it",
    body=AssignBody,
    tag="inbox",
)
async def assign(call: Call, body: AssignBody, conversation_id: int) -> dict[str, Any]:
    conversation = await call.taskra.inbox.assign(call.store_id, conversation_id, body.account_id)
    return serialize.conversation(conversation)


@api.put(
    "/conversations/{conversation_id:int}/tags",
    summary="Replace a conversation's tags",
    body=TagsBody,
    tag="inbox",
)
async def set_tags(call: Call, body: TagsBody, conversation_id: int) -> dict[str, Any]:
    conversation = await call.taskra.inbox.set_tags(call.store_id, conversation_id, body.tags)
    return serialize.conversation(conversation)


@api.post(
    "/conversations/{conversation_id:int}/notes",
    summary="Add an internal note (never sent to the customer)",
    body=NoteBody,
    status=201,
    tag="inbox",
)
async def add_note(call: Call, body: NoteBody, conversation_id: int) -> dict[str, Any]:
    note = await call.taskra.inbox.add_note(
        call.store_id, conversation_id, call.principal.account_id, body.text
    )
    return serialize.message(note)


@api.get(
    "/customers/{customer_id:int}/orders",
    summary="The customer's own orders: status, items, tracking",
    tag="inbox",
)
async def customer_orders(call: Call, customer_id: int) -> dict[str, Any]:
    return {"orders": await call.taskra.inbox.customer_orders(call.store_id, customer_id)}


@api.post(
    "/conversations/{conversation_id:int}/read",
    summary="Mark a conversation read by the caller (the page does when it opens one)",
    tag="inbox",
)
async def mark_read(call: Call, conversation_id: int) -> None:
    if call.principal.account_id is None:
        raise InvalidInput("Only a signed-in staff member can read conversations.")
    await call.taskra.inbox.mark_read(call.store_id, conversation_id, call.principal.account_id)


@api.get(
    "/drafts/{draft_id:int}", summary="A draft with its sources, reasons and cost", tag="drafts"
)
async def get_draft(call: Call, draft_id: int) -> dict[str, Any]:
    return serialize.draft(await call.taskra.drafting.get(call.store_id, draft_id))


@api.post(
    "/drafts/{draft_id:int}/approve",
    summary="Send a draft, as drafted or edited",
    body=ApproveBody,
    tag="drafts",
)
async def approve(call: Call, body: ApproveBody, draft_id: int) -> dict[str, Any]:
    draft = await call.taskra.drafting.approve(call.store_id, draft_id, text=body.text)
    return serialize.draft(draft)


@api.post("/drafts/{draft_id:int}/discard", summary="Discard a draft", tag="drafts")
async def discard(call: Call, draft_id: int) -> dict[str, Any]:
    return serialize.draft(await call.taskra.drafting.discard(call.store_id, draft_id))


@api.post(
    "/messages/{message_id:int}/regenerate",
    summary="Draft a customer message again",
    status=202,
    tag="drafts",
)
async def regenerate(call: Call, message_id: int) -> dict[str, Any]:
    job_id = await call.taskra.drafting.regenerate(call.store_id, message_id)
    return {"job_id": job_id}
