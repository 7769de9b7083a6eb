"""Scale-out on PostgreSQL: two ``taskra serve --no-worker`` web processes and two ``taskra
worker`` processes share one database under load.

What must hold (DESIGN section 10): no job runs twice (each reply's send reaches Resend
exactly once, not merely once after de-duplication), every message is stored once, and
writes from the web processes and the workers to the same conversation do not undo each
other (no lost update).
"""

from __future__ import annotations

import asyncio
import collections
import os
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col
from taskra_email.signing import sign

from taskra_core.models import Conversation, Message
from taskra_core.testing import make_test_taskra
from tests.fakes.resend import FakeResend
from tests.fakes.shopify import SHOP, FakeShopify, mint_id_token
from tests.reliability.conftest import DOMAIN, EMAIL_SECRET
from tests.reliability.processes import Server, TaskraProcess
from tests.reliability.test_crash import (
    Load,
    assert_one_reply_each,
    send,
    stored,
    wait_idle,
)

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.skipif(
        not os.environ.get("TASKRA_TEST_POSTGRES_URL"),
        reason="several processes on one database need PostgreSQL (TASKRA_TEST_POSTGRES_URL)",
    ),
]


def _thread_email(n: int, first_id: str) -> bytes:
    return (
        f"From: Priya Raman <priya.raman84@example.com>\r\nTo: fellandford@{DOMAIN}\r\n"
        f"Subject: Re: Trousers\r\nMessage-ID: <thread-{n}@mail.example.com>\r\n"
        f"In-Reply-To: {first_id}\r\n\r\nOne more thing ({n}).\r\n"
    ).encode()


async def test_two_servers_and_two_workers_run_each_job_once(
    env: dict[str, str],
    database_url: str,
    fake_resend_server: FakeResend,
    fake_shopify: FakeShopify,
    tmp_path: Path,
) -> None:
    """120 emails and 120 webhooks, half through each web process, drafted and auto-sent by
    two workers: every Resend send request carries a distinct idempotency key (no job ran
    twice), each email is stored once, and each customer gets one reply. Meanwhile 20 follow
    ups land in one conversation while an agent sets its tags through both web processes:
    the thread keeps all 21 messages and the tags are the agent's last choice."""
    env = {**env, "TASKRA_SHOPIFY_ORIGIN": fake_shopify.origin}
    servers = [Server(env, tmp_path / f"serve{i}.log", worker=False) for i in range(2)]
    workers = [TaskraProcess(["worker"], env, tmp_path / f"worker{i}.log") for i in range(2)]
    for process in [*servers, *workers]:
        process.start()
    load = Load.make(webhooks=120, emails=120)
    try:
        first_raw = (
            f"From: Priya Raman <priya.raman84@example.com>\r\nTo: fellandford@{DOMAIN}\r\n"
            "Subject: Trousers\r\nMessage-ID: <thread-0@mail.example.com>\r\n\r\nHello.\r\n"
        ).encode()
        async with httpx.AsyncClient(base_url=servers[0].url, timeout=30) as client:
            first = await client.post(
                "/channels/email/inbound", content=first_raw, headers=sign(EMAIL_SECRET, first_raw)
            )
            assert first.status_code == 201, first.text
        conversation_id = first.json()["conversation_id"]

        async def follow_ups() -> None:
            for n in range(1, 21):
                raw = _thread_email(n, "<thread-0@mail.example.com>")
                url = servers[n % 2].url
                async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                    response = await client.post(
                        "/channels/email/inbound", content=raw, headers=sign(EMAIL_SECRET, raw)
                    )
                    assert response.status_code == 201, response.text

        async def agent_tags() -> list[str]:
            last: list[str] = []
            for n in range(20):
                last = [f"round-{n}", "vip"]
                url = servers[n % 2].url
                async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                    response = await client.put(
                        f"/api/v1/conversations/{conversation_id}/tags",
                        json={"tags": last},
                        headers={"Authorization": f"Bearer {mint_id_token(SHOP)}"},
                    )
                    assert response.status_code == 200, response.text
            return last

        items = load.requests()
        halves = [items[0::2], items[1::2]]
        results = await asyncio.gather(
            send(servers[0].url, halves[0], load),
            send(servers[1].url, halves[1], load),
            follow_ups(),
            agent_tags(),
        )
        final_tags = results[3]
        assert not load.failed
        core = make_test_taskra(database_url)
        async with core:
            await wait_idle(core)
            receipts, messages = await stored(core, load)
            async with core.db.session() as session:
                conversation = await session.get(Conversation, conversation_id)
                thread = await session.execute(
                    select(func.count())
                    .select_from(Message)
                    .where(
                        col(Message.conversation_id) == conversation_id,
                        col(Message.direction) == "inbound",
                    )
                )
                replies = await session.execute(
                    select(func.count())
                    .select_from(Message)
                    .where(col(Message.direction) == "outbound")
                )
            inbound_in_thread = int(thread.scalar() or 0)
            stored_replies = int(replies.scalar() or 0)
    finally:
        for process in [*workers, *servers]:
            process.stop()
    assert all(receipts.get(key) == 1 for key, _, _ in load.webhooks)
    assert all(messages.get(key) == 1 for key, _, _ in load.emails)
    keys = collections.Counter(
        r.headers.get("idempotency-key")
        for r in fake_resend_server.requests
        if r.method == "POST" and r.path == "/emails"
    )
    assert keys, "nothing was sent"
    assert max(keys.values()) == 1, f"sent more than once: {[k for k, n in keys.items() if n > 1]}"
    assert_one_reply_each(fake_resend_server, stored_replies)
    assert inbound_in_thread == 21
    assert conversation is not None
    assert sorted(conversation.tags or []) == sorted(final_tags)
