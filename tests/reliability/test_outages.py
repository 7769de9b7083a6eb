"""Remote outages against a real ``taskra serve``: while the AI provider (the fake Anthropic
API, through the real SDK) answers only errors, customers' emails are still accepted and
stored; when it recovers, Taskra catches up and every message gets exactly one draft.
Resend's and Shopify's outages are covered in-process (tests/channels/test_email_roundtrip.py,
tests/channels/test_email_inbound.py, tests/shopify/test_orders.py, tests/shopify/test_tokens.py)
and Stripe's in tests/core/test_billing.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from taskra_core.models import Draft, JobRecord, Message
from taskra_core.testing import make_test_taskra
from tests.fakes.anthropic import FakeAnthropic, Reply, error_reply, tool_reply
from tests.reliability.processes import Server
from tests.reliability.test_crash import Load, send, wait_idle

pytestmark = pytest.mark.reliability
OUTAGE_ERRORS = 40


def answer(body: dict[str, Any]) -> Reply:
    """One knowledge search, then a submitted reply: the shape of a real draft."""
    last = body["messages"][-1]["content"]
    if any(isinstance(b, dict) and b.get("type") == "tool_result" for b in last):
        return tool_reply(
            "submit_reply",
            {
                "reply": "Thanks for getting in touch: here is what I found.",
                "sources": [],
                "intent": "other",
                "language": "en",
                "confidence": 0.8,
                "needs_human": False,
            },
        )
    return tool_reply("search_knowledge", {"query": "trousers leg length"})


@pytest.fixture
def anthropic() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(responder=answer) as fake:
        yield fake


async def test_an_ai_provider_outage_delays_drafts_and_loses_none(
    env: dict[str, str], database_url: str, anthropic: FakeAnthropic, tmp_path: Path
) -> None:
    """The fake Anthropic API answers 529 Overloaded to its next 40 requests while 30 emails
    arrive: all 30 are acknowledged and stored at once. Drafting backs off and retries;
    once the API answers again, each message has exactly one draft, none failed, and no job
    is dead."""
    env = {
        **env,
        "TASKRA_REPLY_MODEL": "anthropic",
        "ANTHROPIC_API_KEY": "sk-ant-reliability",
        "ANTHROPIC_BASE_URL": anthropic.base_url,
        "TASKRA_ANTHROPIC_MAX_RETRIES": "0",
    }
    anthropic.script(*[error_reply("overloaded_error") for _ in range(OUTAGE_ERRORS)])
    load = Load.make(webhooks=0, emails=30)
    server = Server(env, tmp_path / "serve.log")
    server.start()
    try:
        await send(server.url, load.requests(), load)
        assert len(load.acked) == 30
        core = make_test_taskra(database_url)
        async with core:
            for _ in range(240):  # until the scripted outage is used up (or 60 s)
                if len(anthropic.requests) > OUTAGE_ERRORS:
                    break
                await asyncio.sleep(0.25)
            states = await wait_idle(core)
            async with core.db.session() as session:
                drafts = await session.execute(
                    select(Draft.message_id, Draft.state, func.count()).group_by(  # type: ignore[call-overload]
                        Draft.message_id, Draft.state
                    )
                )
                per_message = [(m, s, int(n)) for m, s, n in drafts.all()]
                messages = await session.execute(
                    select(func.count())
                    .select_from(Message)
                    .where(col(Message.direction) == "inbound")
                )
                retried = await session.execute(
                    select(func.count())
                    .select_from(JobRecord)
                    .where(col(JobRecord.kind) == "draft", col(JobRecord.attempts) > 1)
                )
                stored, retried_jobs = int(messages.scalar() or 0), int(retried.scalar() or 0)
    finally:
        server.stop()
    assert stored == 30
    assert states.get("dead", 0) == 0, (states, server.output())
    assert len(per_message) == 30, per_message
    assert all(n == 1 for _, _, n in per_message), "a message was drafted twice"
    assert all(state != "failed" for _, state, _ in per_message), per_message
    assert retried_jobs > 0, "the outage was never seen"
    assert len(anthropic.requests) > OUTAGE_ERRORS
