"""Built-in drafting: the Claude and offline reply models, the draft/send jobs and the
rule-based ``check_draft``. Hooks are ``trylast`` so installed plugins come first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlmodel import col

from taskra_core.drafting.anthropic_model import AnthropicReplyModel
from taskra_core.drafting.checks import draft_reasons
from taskra_core.drafting.offline import OfflineReplyModel
from taskra_core.drafting.policy import drafts_for
from taskra_core.drafting.sending import send_draft
from taskra_core.drafting.service import DRAFT_CREATED_JOB, DRAFT_JOB, REPLY_SENT_JOB, SEND_JOB
from taskra_core.hookspecs import hookimpl
from taskra_core.models import Draft, Message, Store

if TYPE_CHECKING:
    from collections.abc import Callable

    from taskra_core.app import Taskra
    from taskra_core.drafting.pipeline import CheckContext
    from taskra_core.drafting.types import ModelReply
    from taskra_core.jobs import JobContext

# A draft may make several model calls, each with its own timeout and quick retries.
DRAFT_LEASE_SECONDS = 900.0


@hookimpl(trylast=True)
def register_reply_models(register: Callable[..., None]) -> None:
    register("anthropic", AnthropicReplyModel)
    register("offline", OfflineReplyModel)


@hookimpl(trylast=True)
def register_jobs(register: Callable[..., None]) -> None:
    register(DRAFT_JOB, _draft, lease_seconds=DRAFT_LEASE_SECONDS)
    register(SEND_JOB, _send)
    register(DRAFT_CREATED_JOB, _draft_created)
    register(REPLY_SENT_JOB, _reply_sent)


@hookimpl(trylast=True)
async def message_received(taskra: Taskra, message: Message) -> None:
    if message.direction != "inbound" or message.id is None:
        return
    if (message.meta or {}).get("automated"):
        return  # an auto-reply or a bounce: answering it could loop between two robots
    async with taskra.db.transaction() as session:
        store = await session.get(Store, message.store_id)
        if store is None or not drafts_for(store):
            return
        await taskra.drafting.enqueue_draft(session, message.store_id, message.id)


@hookimpl(trylast=True)
def check_draft(draft: ModelReply, context: CheckContext) -> list[Any]:
    return list(draft_reasons(draft, context))


async def _draft(ctx: JobContext) -> None:
    store_id = ctx.job.store_id
    assert store_id is not None
    await ctx.taskra.drafting.draft_message(
        ctx.session, ctx.job, store_id, int(ctx.job.payload["message_id"])
    )


async def _send(ctx: JobContext) -> None:
    assert ctx.job.store_id is not None
    await send_draft(ctx.taskra, ctx.session, ctx.job.store_id, int(ctx.job.payload["draft_id"]))


async def _draft_created(ctx: JobContext) -> None:
    draft = await ctx.session.scalar(
        select(Draft).where(
            col(Draft.id) == int(ctx.job.payload["draft_id"]),
            col(Draft.store_id) == ctx.job.store_id,
        )
    )
    if draft is not None:
        await ctx.taskra.hooks.draft_created(ctx.taskra, draft)


async def _reply_sent(ctx: JobContext) -> None:
    message = await ctx.session.scalar(
        select(Message).where(
            col(Message.id) == int(ctx.job.payload["message_id"]),
            col(Message.store_id) == ctx.job.store_id,
        )
    )
    if message is not None:
        await ctx.taskra.hooks.reply_sent(ctx.taskra, message)
