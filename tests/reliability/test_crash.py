"""Crashes: ``kill -9`` of ``taskra serve`` and of ``taskra worker`` in the middle of a load of
signed Shopify webhooks and inbound email, with real processes on the test's database.

What must hold after a restart (DESIGN section 10, "acknowledge only what is durably
stored"): every request that got a 2xx is stored; senders' retries of the requests that
failed store nothing twice; every job finishes; and no customer receives two replies.
"""

from __future__ import annotations

import asyncio
import collections
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col
from taskra_email.signing import sign

from taskra_core.app import Taskra
from taskra_core.models import JobRecord, Message, WebhookReceipt
from taskra_core.testing import due_jobs, make_test_taskra
from tests.fakes.resend import FakeResend
from tests.fakes.shopify import sign_webhook
from tests.reliability.conftest import DOMAIN, EMAIL_SECRET
from tests.reliability.processes import Server, TaskraProcess

pytestmark = pytest.mark.reliability


@dataclass
class Load:
    """Unique signed requests, and what became of each."""

    webhooks: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    emails: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    acked: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)

    @classmethod
    def make(cls, webhooks: int, emails: int) -> Load:
        load = cls()
        for _ in range(webhooks):
            webhook_id = str(uuid.uuid4())
            body = json.dumps({"id": webhook_id, "current": ["read_products"]}).encode()
            headers = {
                "X-Shopify-Topic": "app/scopes_update",
                "X-Shopify-Shop-Domain": "not-installed.myshopify.com",
                "X-Shopify-Webhook-Id": webhook_id,
                "X-Shopify-Hmac-Sha256": sign_webhook(body),
                "Content-Type": "application/json",
            }
            load.webhooks.append((webhook_id, body, headers))
        for n in range(emails):
            message_id = f"<crash-{uuid.uuid4().hex}@mail.example.com>"
            raw = (
                f"From: Customer {n} <customer{n}@example.com>\r\n"
                f"To: fellandford@{DOMAIN}\r\nSubject: Question {n}\r\n"
                f"Message-ID: {message_id}\r\n\r\n"
                f"Hello, do the Dunmail trousers come in a shorter leg? ({n})\r\n"
            ).encode()
            load.emails.append((message_id, raw, {}))
        return load

    def requests(self) -> list[tuple[str, str, bytes, dict[str, str]]]:
        return [("/webhooks/shopify", key, body, h) for key, body, h in self.webhooks] + [
            ("/channels/email/inbound", key, raw, h) for key, raw, h in self.emails
        ]


async def send(
    base_url: str,
    items: list[tuple[str, str, bytes, dict[str, str]]],
    load: Load,
    *,
    concurrency: int = 8,
    stop_after_acks: int | None = None,
) -> None:
    """Post ``items`` (at most ``concurrency`` at once), recording acks and failures; once
    ``stop_after_acks`` are acked, return (the caller then kills the server mid-load)."""
    queue: asyncio.Queue[tuple[str, str, bytes, dict[str, str]]] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    enough = asyncio.Event()

    async def one(client: httpx.AsyncClient) -> None:
        while not queue.empty() and not enough.is_set():
            path, key, body, headers = queue.get_nowait()
            if path.startswith("/channels/email"):
                headers = sign(EMAIL_SECRET, body)  # fresh: the signature carries a timestamp
            try:
                response = await client.post(path, content=body, headers=headers)
            except httpx.HTTPError:
                load.failed.add(key)
                continue
            if response.is_success:
                load.acked.add(key)
                load.failed.discard(key)
                if stop_after_acks is not None and len(load.acked) >= stop_after_acks:
                    enough.set()
            else:
                load.failed.add(key)

    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        await asyncio.gather(*(one(client) for _ in range(concurrency)))
    for _, key, _, _ in items:  # never sent because the load stopped: a retry sends them
        if key not in load.acked:
            load.failed.add(key)


async def wait_idle(core: Taskra, limit: float = 120.0, *, horizon: float = 0.0) -> dict[str, int]:
    """Wait until no job is running or due (scheduled ones, like a daily sweep, may wait);
    returns the number of jobs per state. ``horizon``: a job due within that many seconds
    counts as due too (a job backing off between retries is not idle)."""
    deadline = asyncio.get_running_loop().time() + limit
    while True:
        async with core.db.session() as session:
            rows = await session.execute(
                select(JobRecord.state, func.count()).group_by(JobRecord.state)  # type: ignore[arg-type]
            )
            states = {str(state): int(n) for state, n in rows.all()}
        if not await due_jobs(core, horizon=horizon):
            return states
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"jobs still pending: {states}")
        await asyncio.sleep(0.5)


async def stored(core: Taskra, load: Load) -> tuple[dict[str, int], dict[str, int]]:
    """Receipts per webhook id and messages per Message-ID, for the load's keys."""
    async with core.db.session() as session:
        receipts = await session.execute(
            select(WebhookReceipt.delivery_id, func.count()).group_by(WebhookReceipt.delivery_id)  # type: ignore[arg-type]
        )
        messages = await session.execute(
            select(Message.channel_message_id, func.count())  # type: ignore[arg-type]
            .where(col(Message.direction) == "inbound")
            .group_by(Message.channel_message_id)
        )
        return (
            {str(k): int(n) for k, n in receipts.all()},
            {str(k): int(n) for k, n in messages.all()},
        )


async def outbound_replies(core: Taskra) -> int:
    async with core.db.session() as session:
        result = await session.execute(
            select(func.count()).select_from(Message).where(col(Message.direction) == "outbound")
        )
        return int(result.scalar() or 0)


def assert_one_reply_each(fake: FakeResend, stored_replies: int) -> None:
    """Replies (mail threaded under a customer's message; not the merchant's notices) answer
    distinct messages, one per outbound message Taskra stored."""
    replies = [sent for sent in fake.sent if "In-Reply-To" in sent.headers]
    answered = collections.Counter(sent.headers["In-Reply-To"] for sent in replies)
    twice = sorted(message for message, n in answered.items() if n > 1)
    assert not twice, f"messages answered twice: {twice}"
    assert len(replies) == stored_replies


async def test_kill_9_of_the_server_mid_load_loses_and_duplicates_nothing(
    env: dict[str, str], database_url: str, fake_resend_server: FakeResend, tmp_path: Path
) -> None:
    """``taskra serve`` (web + in-process worker) is SIGKILLed after 40% of 240 requests were
    acknowledged; after a restart the senders retry what failed. Every acknowledged webhook
    and email is stored exactly once, every job finishes, and each customer gets at most one
    reply, one per stored outbound message."""
    load = Load.make(webhooks=160, emails=80)
    server = Server(env, tmp_path / "serve.log")
    server.start()
    try:
        await send(server.url, load.requests(), load, stop_after_acks=96)
        server.kill9()
        assert len(load.acked) >= 96
        server.start()
        retry = [item for item in load.requests() if item[1] in load.failed]
        await send(server.url, retry, load)
        assert not load.failed, f"{len(load.failed)} requests still failing"
        core = make_test_taskra(database_url)
        async with core:
            states = await wait_idle(core)
            receipts, messages = await stored(core, load)
            replies = await outbound_replies(core)
    finally:
        server.stop()
    assert states.get("dead", 0) == 0, (states, server.output())
    assert all(receipts.get(key) == 1 for key, _, _ in load.webhooks)
    assert all(messages.get(key) == 1 for key, _, _ in load.emails)
    assert_one_reply_each(fake_resend_server, replies)


async def test_kill_9_of_the_worker_mid_jobs_runs_every_job_once(
    env: dict[str, str], database_url: str, fake_resend_server: FakeResend, tmp_path: Path
) -> None:
    """The web process stays up (no in-process worker); a separate ``taskra worker`` is
    SIGKILLed twice while drafting and sending 60 emails' replies. Its leased jobs are taken
    over after the lease; in the end every job is done and no customer got two replies."""
    load = Load.make(webhooks=0, emails=60)
    server = Server(env, tmp_path / "serve.log", worker=False)
    worker = TaskraProcess(["worker"], env, tmp_path / "worker.log")
    server.start()
    try:
        await send(server.url, load.requests(), load)
        assert len(load.acked) == 60
        for _ in range(2):
            worker.start()
            before = len(fake_resend_server.sent)
            for _ in range(200):  # until the worker is visibly mid-way (or 20 s)
                if len(fake_resend_server.sent) > before + 5:
                    break
                await asyncio.sleep(0.1)
            worker.kill9()
        worker.start()
        core = make_test_taskra(database_url)
        async with core:
            states = await wait_idle(core)
            _, messages = await stored(core, load)
            replies = await outbound_replies(core)
    finally:
        worker.stop()
        server.stop()
    assert worker.starts == 3
    assert states.get("dead", 0) == 0, (states, worker.output())
    assert all(messages.get(key) == 1 for key, _, _ in load.emails)
    assert_one_reply_each(fake_resend_server, replies)
    assert replies > 0
