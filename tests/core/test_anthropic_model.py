"""The Claude reply model through the real ``anthropic`` SDK, against the fake Messages API.

Each test drafts for the demo store with ``taskra.drafting.preview`` (the path behind
``taskra draft``), scripts the fake's replies and checks what Taskra sent and concluded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from taskra_core.app import Taskra
from taskra_core.clock import ManualClock
from taskra_core.demo import FELLANDFORD
from taskra_core.errors import ModelRejected, ModelUnavailable
from taskra_core.knowledge.importer import import_store
from taskra_core.testing import make_test_taskra
from tests.core.test_drafting_service import drafts, drain, receive
from tests.fakes.anthropic import (
    FakeAnthropic,
    delay_reply,
    error_reply,
    malformed_reply,
    tool_reply,
)

AS_OF = datetime(2025, 3, 17, 10, 0, tzinfo=UTC)
DOMAIN = "fellandford.myshopify.com"
PRIYA = "priya.raman84@example.com"  # owns #1001
QUESTION = "Where is my order #1001? It hasn't turned up."


def submit(**fields: Any) -> dict[str, Any]:
    return {
        "reply": "Hi Priya, your order #1001 was delivered on 9 January by DPD.",
        "sources": ["order:#1001"],
        "intent": "order_status",
        "language": "en",
        "confidence": 0.9,
        "needs_human": False,
        **fields,
    }


async def claude(database_url: str, fake: FakeAnthropic, **settings: Any) -> AsyncIterator[Taskra]:
    taskra = make_test_taskra(
        database_url,
        anthropic_api_key="sk-test",
        anthropic_base_url=fake.base_url,
        anthropic_max_retries=0,
        now=AS_OF,
        **settings,
    )
    async with taskra:
        await import_store(taskra, FELLANDFORD)
        yield taskra


@pytest.fixture
async def core(database_url: str, fake_anthropic: FakeAnthropic) -> AsyncIterator[Taskra]:
    async for taskra in claude(database_url, fake_anthropic):
        yield taskra


def tool_results(fake: FakeAnthropic, index: int) -> list[dict[str, Any]]:
    last = fake.requests[index].body["messages"][-1]
    return [b for b in last["content"] if b.get("type") == "tool_result"]


async def test_order_lookup_then_submit(core: Taskra, fake_anthropic: FakeAnthropic) -> None:
    """The model looks up the owner's order, then submits; usage adds up over both calls."""
    fake_anthropic.script(
        tool_reply("lookup_order", {"order_name": "#1001"}),
        tool_reply("submit_reply", submit()),
    )
    result = await core.drafting.preview(DOMAIN, text=QUESTION, from_email=PRIYA)
    assert len(fake_anthropic.requests) == 2
    [found] = tool_results(fake_anthropic, 1)
    order = json.loads(found["content"])["orders"][0]
    assert order["name"] == "#1001"
    assert order["fulfillment_status"] == "FULFILLED"
    assert "shippingAddress" not in found["content"]  # addresses never reach the model
    data = result.as_dict()
    assert data["sources"] == ["order:#1001"]
    assert data["intent"] == "order_status"
    assert data["escalate"] is False
    assert data["model"] == "claude-sonnet-4-6"
    usage = data["usage"]
    assert usage["output_tokens"] > 0
    assert usage["input_tokens"] + usage["cache_write_tokens"] + usage["cache_read_tokens"] > 0
    # Sonnet's list price, applied to the fake's reported usage.
    expected = (
        usage["input_tokens"] * 3
        + usage["cache_write_tokens"] * 3.75
        + usage["cache_read_tokens"] * 0.3
        + usage["output_tokens"] * 15
    )
    assert data["cost"] == pytest.approx(expected / 1e6, abs=1e-6)


async def test_order_of_someone_else_is_not_revealed(
    core: Taskra, fake_anthropic: FakeAnthropic
) -> None:
    """Asking for another customer's order gets no order data and a verification flag."""
    fake_anthropic.script(
        tool_reply("lookup_order", {"order_name": "#1001"}),
        tool_reply(
            "submit_reply",
            submit(reply="Could you send the order number and the email used?", sources=[]),
        ),
    )
    result = await core.drafting.preview(
        DOMAIN, text=QUESTION, from_email="someone.else@example.com"
    )
    [answer] = tool_results(fake_anthropic, 1)
    assert json.loads(answer["content"])["verification_needed"] is True
    assert "FULFILLED" not in answer["content"]
    assert "priya" not in answer["content"].lower()
    assert result.verification_needed is True
    # Asking for details is a fine reply: no "ungrounded" escalation for it.
    assert "no_grounding" not in {r.code for r in result.reasons}
    # Nor did the first prompt carry Priya's orders.
    assert '#1001"' not in json.dumps(fake_anthropic.requests[0].body["messages"])


async def test_tool_loop_is_capped_in_rounds(
    database_url: str, fake_anthropic: FakeAnthropic
) -> None:
    """A model that keeps calling tools is stopped after TASKRA_DRAFT_MAX_ROUNDS calls; the
    last call forces submit_reply, and a draft that still did not submit goes to a person."""
    fake_anthropic.responder = lambda body: tool_reply("search_knowledge", {"query": "boots"})
    async for taskra in claude(database_url, fake_anthropic, draft_max_rounds=3):
        result = await taskra.drafting.preview(DOMAIN, text="Boots?", from_email=PRIYA)
    assert len(fake_anthropic.requests) == 3
    choices = [r.body["tool_choice"] for r in fake_anthropic.requests]
    assert choices == [{"type": "any"}, {"type": "any"}, {"type": "tool", "name": "submit_reply"}]
    assert result.escalate
    assert result.reply.rounds == 3


async def test_tool_loop_is_capped_in_tokens(
    database_url: str, fake_anthropic: FakeAnthropic
) -> None:
    """A draft stops as soon as it has used TASKRA_DRAFT_MAX_TOKENS, whatever rounds remain."""
    fake_anthropic.responder = lambda body: tool_reply("search_knowledge", {"query": "boots"})
    async for taskra in claude(database_url, fake_anthropic, draft_max_tokens=1_000):
        result = await taskra.drafting.preview(DOMAIN, text="Boots?", from_email=PRIYA)
    assert len(fake_anthropic.requests) == 1
    assert result.reply.usage.total >= 1_000
    assert any("cap of 1000 tokens" in r.detail for r in result.reasons)


async def test_citations_of_unseen_sources_are_dropped(
    core: Taskra, fake_anthropic: FakeAnthropic
) -> None:
    """Only ids the model was shown survive; an invented id is not passed on as grounding."""
    fake_anthropic.script(
        tool_reply(
            "submit_reply",
            submit(sources=["product:made-up-boot", "policy:REFUND_POLICY"], intent="other"),
        )
    )
    result = await core.drafting.preview(DOMAIN, text="How do returns work?", from_email=PRIYA)
    assert result.reply.sources == ("policy:REFUND_POLICY",)


async def test_prompt_caches_the_store_profile(core: Taskra, fake_anthropic: FakeAnthropic) -> None:
    """The second message of a store reads the cached tools + instructions + profile."""
    for text in ("Do you ship to France?", "Is the Skiddaw jacket waterproof?"):
        fake_anthropic.script(tool_reply("submit_reply", submit(sources=[])))
        result = await core.drafting.preview(DOMAIN, text=text, from_email=PRIYA)
    usage = result.reply.usage
    assert usage.cache_read_tokens > 0
    assert usage.cache_read_tokens / usage.prompt_tokens >= 0.8


@pytest.mark.parametrize(
    ("reply", "error", "match"),
    [
        (error_reply("overloaded_error"), ModelUnavailable, "529"),
        (error_reply("rate_limit_error"), ModelUnavailable, "429"),
        (error_reply("api_error"), ModelUnavailable, "500"),
        (malformed_reply(), ModelUnavailable, "could not be read"),
        (error_reply("invalid_request_error"), ModelRejected, "400"),
        (error_reply("authentication_error"), ModelRejected, "ANTHROPIC_API_KEY"),
    ],
)
async def test_api_errors_become_taskra_errors(
    core: Taskra, fake_anthropic: FakeAnthropic, reply: Any, error: type[Exception], match: str
) -> None:
    """Outages are ModelUnavailable (retried later); refusals are ModelRejected (not)."""
    fake_anthropic.script(reply)
    with pytest.raises(error, match=match):
        await core.drafting.preview(DOMAIN, text="Boots?", from_email=PRIYA)


async def test_timeout_is_an_outage(database_url: str, fake_anthropic: FakeAnthropic) -> None:
    """A reply slower than TASKRA_ANTHROPIC_TIMEOUT_SECONDS is an outage, not a hang."""
    fake_anthropic.script(delay_reply(2.0))
    async for taskra in claude(database_url, fake_anthropic, anthropic_timeout_seconds=0.3):
        with pytest.raises(ModelUnavailable, match="in time"):
            await taskra.drafting.preview(DOMAIN, text="Boots?", from_email=PRIYA)


async def test_nothing_volatile_before_the_cache_breakpoint(
    core: Taskra, fake_anthropic: FakeAnthropic
) -> None:
    """Tools and system blocks are byte-identical for different messages, senders and times;
    the breakpoint closes the store profile, and the date sits after it."""
    fake_anthropic.script(
        tool_reply("submit_reply", submit()), tool_reply("submit_reply", submit())
    )
    await core.drafting.preview(DOMAIN, text=QUESTION, from_email=PRIYA)
    core.clock = ManualClock(datetime(2025, 6, 1, 8, 30, tzinfo=UTC))
    await core.drafting.preview(
        DOMAIN, text="Do you sell gaiters?", from_email="x@example.org", channel="chat"
    )
    first, second = (r.body for r in fake_anthropic.requests)
    assert first["tools"] == second["tools"]
    assert first["system"] == second["system"]
    assert [("cache_control" in b) for b in first["system"]] == [False, True]
    prefix = json.dumps([first["tools"], first["system"]])
    for volatile in ("17 March", "08:30", "priya", "#1001", "x@example.org", "gaiters"):
        assert volatile not in prefix
    assert "Today is Monday 17 March 2025" in json.dumps(first["messages"])
    assert "Today is Sunday 01 June 2025" in json.dumps(second["messages"])


async def test_outage_retries_the_draft_job_then_drafts(
    database_url: str, fake_anthropic: FakeAnthropic
) -> None:
    """529, 529, then success: the draft job retries with back-off and stores one draft."""
    fake_anthropic.script(
        error_reply("overloaded_error"),
        error_reply("overloaded_error"),
        tool_reply("submit_reply", submit()),
    )
    async for taskra in claude(database_url, fake_anthropic):
        message_id = await receive(taskra, QUESTION)
        await drain(taskra)
        [draft] = await drafts(taskra)
    assert len(fake_anthropic.requests) == 3
    assert draft.message_id == message_id
    assert draft.state == "drafted"
    assert draft.sources == ["order:#1001"]


async def test_persistent_outage_ends_in_a_visible_failed_draft(
    database_url: str, fake_anthropic: FakeAnthropic
) -> None:
    """An API that stays down: after TASKRA_DRAFT_MAX_ATTEMPTS the draft is shown as failed,
    the message is still there, and no reply was sent."""
    fake_anthropic.responder = lambda body: error_reply("api_error")
    async for taskra in claude(database_url, fake_anthropic, draft_max_attempts=2):
        await receive(taskra, QUESTION)
        await drain(taskra)
        [draft] = await drafts(taskra)
        outbound = await taskra.jobs.list(kind="send_reply")
    assert len(fake_anthropic.requests) == 2
    assert draft.state == "failed"
    assert "500" in (draft.error or "")
    assert outbound == []


def test_a_process_that_drafts_offline_never_loads_the_sdk() -> None:
    """Starting Taskra with its default plugins (the anthropic model registered, no key)
    does not import the Anthropic SDK, which would add tens of MB to every process."""
    code = (
        "import asyncio, sys\n"
        "from taskra_core.testing import make_test_taskra\n"
        "async def main():\n"
        "    async with make_test_taskra('sqlite+aiosqlite:///:memory:') as t:\n"
        "        assert 'anthropic' in t.reply_models.names\n"
        "    print('anthropic' in sys.modules)\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]
