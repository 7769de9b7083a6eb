"""An outage of the AI provider (the fake Anthropic API, through the real SDK) against a real
``taskra serve``: errors, then requests that time out, then slow answers, while customers'
emails arrive. Every email is stored at once and, once the API answers again, has exactly
one draft (DESIGN section 10)."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from taskra_core.models import Draft
from taskra_core.testing import make_test_taskra
from tests.fakes.anthropic import FakeAnthropic, Reply, delay_reply, error_reply
from tests.reliability.outages import (
    RETRYING,
    answer,
    count,
    inbound,
    jobs_of,
    outage_server,
    until,
)
from tests.reliability.test_crash import Load, send, wait_idle

pytestmark = pytest.mark.reliability


# The AI outage, by request number: errors, then requests that outlast the client's timeout,
# then answers that are slow but within it, then normal answers.
AI_ERRORS, AI_TIMEOUTS, AI_SLOW = 24, 8, 8
AI_TIMEOUT_SECONDS = 1.0


def ai_outage_responder() -> Callable[[dict[str, Any]], Reply]:
    served = itertools.count()  # next() is atomic: handler threads may call it at once

    def respond(body: dict[str, Any]) -> Reply:
        n = next(served)
        if n < AI_ERRORS:
            return error_reply("overloaded_error" if n % 2 else "api_error")
        if n < AI_ERRORS + AI_TIMEOUTS:
            return delay_reply(AI_TIMEOUT_SECONDS * 3, answer(body))
        if n < AI_ERRORS + AI_TIMEOUTS + AI_SLOW:
            return dataclasses.replace(answer(body), delay=AI_TIMEOUT_SECONDS / 3)
        return answer(body)

    return respond


@pytest.fixture
def anthropic() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(responder=ai_outage_responder()) as fake:
        yield fake


# --- the AI provider -------------------------------------------------------------------------


async def test_an_ai_provider_outage_delays_drafts_and_loses_none(
    env: dict[str, str], database_url: str, anthropic: FakeAnthropic, tmp_path: Path
) -> None:
    """The fake Anthropic API answers its first 24 requests with 529 Overloaded or 500, the
    next 8 only after three times the client's timeout (they time out), the next 8 slowly
    but in time, while 30 emails arrive: all 30 are acknowledged and stored at once.
    Drafting backs off and retries through errors and timeouts; once the API answers again,
    each message has exactly one draft, none failed, and no job is dead."""
    outage = AI_ERRORS + AI_TIMEOUTS + AI_SLOW
    load = Load.make(webhooks=0, emails=30)
    server = outage_server(
        env,
        tmp_path,
        {
            "TASKRA_REPLY_MODEL": "anthropic",
            "ANTHROPIC_API_KEY": "sk-ant-reliability",
            "ANTHROPIC_BASE_URL": anthropic.base_url,
            "TASKRA_ANTHROPIC_MAX_RETRIES": "0",
            "TASKRA_ANTHROPIC_TIMEOUT_SECONDS": str(AI_TIMEOUT_SECONDS),
        },
    )
    server.start()
    try:
        await send(server.url, load.requests(), load)
        assert len(load.acked) == 30
        core = make_test_taskra(database_url)
        async with core:
            stored_at_once = await count(core, inbound())
            await until(lambda: len(anthropic.requests) > outage, "the outage used up", 60)
            states = await wait_idle(core, horizon=RETRYING)
            async with core.db.session() as session:
                rows = await session.execute(
                    select(Draft.message_id, Draft.state, func.count()).group_by(  # type: ignore[call-overload]
                        Draft.message_id, Draft.state
                    )
                )
                per_message = [(m, s, int(n)) for m, s, n in rows.all()]
            draft_jobs = await jobs_of(core, "draft")
    finally:
        server.stop()
    assert stored_at_once == 30
    assert states.get("dead", 0) == 0, (states, server.output())
    assert len(per_message) == 30, per_message
    assert all(n == 1 for _, _, n in per_message), "a message was drafted twice"
    assert all(state != "failed" for _, state, _ in per_message), per_message
    assert any(j.attempts > 1 for j in draft_jobs), "the outage was never seen"
    # A job keeps its last failure: some last failed by timing out, not by an error answer.
    assert any("did not answer in time" in (j.last_error or "") for j in draft_jobs)
    assert len(anthropic.requests) > outage
