"""Remote outages against a real ``taskra serve``: each remote service (the fakes, through the
real SDKs) goes down for a while and comes back, and Taskra keeps accepting messages, backs
off, catches up, and loses or duplicates nothing (DESIGN section 10).

- The AI provider (fake Anthropic): errors, then requests that time out, then slow answers,
  while customers' emails arrive: every email is stored at once and, once the API answers
  again, has exactly one draft.
- Resend, while auto-replies and merchant-approved replies are being sent and while mail
  arrives through Resend's receiving: errors, then hung requests (some of which Resend had
  carried out before the connection broke) and slow answers. Every customer gets exactly one
  email, every retry carries the same idempotency key, and mail whose body sits at Resend is
  stored once Resend answers.
- Stripe, while AI replies are metered: errors, then hung requests (some recorded by Stripe
  all the same) and slow answers. Each reply's meter event reaches Stripe exactly once.
- Shopify's Admin API, while product and shop webhooks are applied and order look-ups are
  made for drafts: webhooks are still acknowledged and stored once, the catalog ends as
  Shopify has it with nothing duplicated, drafts made meanwhile say order data is
  unavailable and go to a person, and look-ups work again after the recovery.

Outages are long compared with the jobs' backoff, so the tests raise the attempt limits
(``TASKRA_JOB_MAX_ATTEMPTS``, ``TASKRA_DRAFT_MAX_ATTEMPTS``) above the number of failures
the fakes will give: however those failures fall on the jobs, none can run out of attempts,
so a dead job means something else went wrong. Outages longer than the limits allow are the
product's documented dead-job path (visible, retryable), not covered here.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import inspect
import itertools
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col

import taskra_shopify.plugin
from taskra_core.app import Taskra
from taskra_core.billing.service import METER_JOB
from taskra_core.models import (
    Draft,
    JobRecord,
    KnowledgeItem,
    KnowledgePassage,
    Message,
    Store,
    WebhookReceipt,
)
from taskra_core.testing import TEST_SECRET_KEY, make_test_taskra
from tests.fakes import resend as fake_resend
from tests.fakes import shopify as fake_shopify_
from tests.fakes import stripe as fake_stripe_
from tests.fakes.anthropic import FakeAnthropic, Reply, delay_reply, error_reply, tool_reply
from tests.fakes.resend import FakeResend
from tests.fakes.server import Outage
from tests.fakes.shopify import CLIENT_ID, CLIENT_SECRET, SHOP, FakeShopify, mint_id_token
from tests.fakes.stripe import API_KEY, TEST_PLANS, WEBHOOK_SECRET, FakeStripe
from tests.reliability.conftest import DOMAIN, STORE
from tests.reliability.processes import Server
from tests.reliability.test_crash import Load, send, stored, wait_idle
from tests.shopify.installing import install
from tests.shopify.test_webhooks import delivery

pytestmark = pytest.mark.reliability

# More attempts than any outage below can fail (see the module docstring).
PATIENT = {"TASKRA_JOB_MAX_ATTEMPTS": "100", "TASKRA_DRAFT_MAX_ATTEMPTS": "100"}
# Jobs due this soon are retrying (backoff is at most 1 s in the tests' environment), not
# scheduled for later: waiting for the jobs to settle waits for them too.
RETRYING = 30.0
TROUSERS = "Hello, do the Dunmail trousers come in a shorter leg?"
A_PERSON = "I want to speak to a real person please, not a bot."


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


# --- helpers ---------------------------------------------------------------------------------


async def until(
    check: Callable[[], bool | Awaitable[bool]], what: str, limit: float = 30.0
) -> None:
    """Wait until ``check()`` is true (polling), or fail naming ``what`` was awaited."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise TimeoutError(f"not within {limit} s: {what}")
        await asyncio.sleep(0.1)


async def phase(outage: Outage[Any], *failures: Any, requests: int, limit: float = 30) -> None:
    """The next phase of ``outage``: answer with ``failures`` until ``requests`` more requests
    were answered so (the phase was really seen), then return with the phase still on."""
    before = len(outage.served)
    outage.begin(*failures)
    await until(
        lambda: len(outage.served) - before >= requests,
        f"{requests} requests during the outage phase {failures}",
        limit,
    )


def raw_from(sender: str, text: str, subject: str) -> tuple[str, bytes, dict[str, str]]:
    """An email to the store (raw MIME, signed when sent) as a :class:`Load` item."""
    message_id = f"<outage-{uuid.uuid4().hex}@mail.example.com>"
    raw = (
        f"From: {sender}\r\nTo: fellandford@{DOMAIN}\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id}\r\n\r\n{text}\r\n"
    ).encode()
    return message_id, raw, {}


def raw_email(n: int, text: str) -> tuple[str, bytes, dict[str, str]]:
    """Customer ``n``'s email: each customer has an address of their own."""
    return raw_from(f"Customer {n} <customer{n}@example.com>", f"{text} ({n})", f"Question {n}")


async def drafts(core: Taskra) -> list[Draft]:
    async with core.db.session() as session:
        return list(await session.scalars(select(Draft).order_by(col(Draft.id))))


async def at_least(rows: Awaitable[list[Any]], n: int) -> bool:
    return len(await rows) >= n


async def count(core: Taskra, query: Any) -> int:
    async with core.db.session() as session:
        return int((await session.execute(query)).scalar() or 0)


def inbound() -> Any:
    return select(func.count()).select_from(Message).where(col(Message.direction) == "inbound")


def outbound() -> Any:
    return select(func.count()).select_from(Message).where(col(Message.direction) == "outbound")


async def jobs_of(core: Taskra, kind: str) -> list[JobRecord]:
    async with core.db.session() as session:
        return list(await session.scalars(select(JobRecord).where(col(JobRecord.kind) == kind)))


# --- the AI provider -------------------------------------------------------------------------


async def test_an_ai_provider_outage_delays_drafts_and_loses_none(
    env: dict[str, str], database_url: str, anthropic: FakeAnthropic, tmp_path: Path
) -> None:
    """The fake Anthropic API answers its first 24 requests with 529 Overloaded or 500, the
    next 8 only after three times the client's timeout (they time out), the next 8 slowly
    but in time, while 30 emails arrive: all 30 are acknowledged and stored at once.
    Drafting backs off and retries through errors and timeouts; once the API answers again,
    each message has exactly one draft, none failed, and no job is dead."""
    env = {
        **env,
        **PATIENT,
        "TASKRA_REPLY_MODEL": "anthropic",
        "ANTHROPIC_API_KEY": "sk-ant-reliability",
        "ANTHROPIC_BASE_URL": anthropic.base_url,
        "TASKRA_ANTHROPIC_MAX_RETRIES": "0",
        "TASKRA_ANTHROPIC_TIMEOUT_SECONDS": str(AI_TIMEOUT_SECONDS),
    }
    outage = AI_ERRORS + AI_TIMEOUTS + AI_SLOW
    load = Load.make(webhooks=0, emails=30)
    server = Server(env, tmp_path / "serve.log")
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


# --- Resend ----------------------------------------------------------------------------------


async def test_a_resend_outage_delays_replies_and_sends_each_once(
    env: dict[str, str], database_url: str, fake_resend_server: FakeResend, tmp_path: Path
) -> None:
    """Resend answers 503, 500 and 429 while 18 emails arrive as raw MIME and 4 through
    Resend's receiving (the event names the email; its body is fetched from Resend); 14
    are auto-replied, 4 ask for a person and the merchant approves those through the API
    (2 edited) during the outage. Then requests hang for a second and the connection breaks
    (half of them after Resend sent the email), or are answered slowly; then Resend
    recovers.

    Every inbound request is acknowledged at once and the raw emails are stored at once;
    after the recovery all 22 messages are stored once, each of the 22 customers got
    exactly one email (the approved ones with the merchant's text), every send of a reply
    carried the same idempotency key as its first attempt, and no job is dead."""
    fake = fake_resend_server
    env = {**env, **PATIENT, "RESEND_WEBHOOK_SECRET": fake.webhook_secret}
    routine, people, via_resend = 14, 4, 4
    raw = routine + people
    total = raw + via_resend
    load = Load()
    load.emails += [raw_email(n, TROUSERS) for n in range(routine)]
    load.emails += [raw_email(n, A_PERSON) for n in range(routine, raw)]
    received = {
        fake.receive(
            sender=f"Customer {n} <customer{n}@example.com>",
            to=[f"fellandford@{DOMAIN}"],
            subject=f"Question {n}",
            text=f"{TROUSERS} ({n})",
            message_id=f"<outage-resend-{n}@mail.example.com>",
        ): f"<outage-resend-{n}@mail.example.com>"
        for n in range(raw, total)
    }
    customers = {f"customer{n}@example.com" for n in range(total)}
    edited = "Of course: I'm Sam from the Fell & Ford team, and I'll call you today."

    def reply_keys() -> dict[str, set[str]]:
        """Idempotency key -> recipients, over every request to send a reply (mail threaded
        under a customer's message, not a notice to the merchant) that Resend received."""
        keys: dict[str, set[str]] = collections.defaultdict(set)
        for request in list(fake.requests):
            if request.method != "POST" or request.path != "/emails":
                continue
            if "In-Reply-To" in (request.body.get("headers") or {}):
                key = str(request.headers.get("idempotency-key"))
                keys[key].update(request.body.get("to") or [])
        return keys

    fake.outage.begin(
        fake_resend.server_error(503), fake_resend.server_error(500), fake_resend.rate_limited(0.2)
    )
    server = Server(env, tmp_path / "serve.log")
    server.start()
    try:
        await send(server.url, load.requests(), load)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            events = [fake.signed(fake.received_event(email_id)) for email_id in received]
            answers = [
                await client.post("/channels/email/resend", content=body, headers=headers)
                for body, headers in events
            ]
        core = make_test_taskra(database_url)
        async with core:
            stored_at_once = await count(core, inbound())

            async def escalated() -> list[Draft]:
                return [d for d in await drafts(core) if d.state == "escalated"]

            await until(lambda: at_least(escalated(), people), "the 4 drafts that ask for a person")
            auth = {"Authorization": f"Bearer {mint_id_token(STORE, sub=None)}"}
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                approvals = [
                    await client.post(
                        f"/api/v1/drafts/{draft.id}/approve",
                        json={"text": edited} if i % 2 else {},
                        headers=auth,
                    )
                    for i, draft in enumerate(await escalated())
                ]
            # Every raw email's reply was tried (and failed) before the outage changes.
            await until(lambda: len(reply_keys()) >= raw, "a send attempt for every reply")
            assert not fake.sent, "Resend was down, yet an email was sent"
            await phase(
                fake.outage,
                fake_resend.timed_out(1.0),
                fake_resend.timed_out(1.0, sent=True),
                fake_resend.slow(0.5),
                requests=9,
            )
            await until(
                lambda: any(r.path == "/emails" for r in fake.lost),
                "a reply that Resend sent but whose answer was lost",
            )
            fake.outage.end()
            states = await wait_idle(core, horizon=RETRYING)
            _, messages = await stored(core, load)
            stored_total = await count(core, inbound())
            replies = await count(core, outbound())
            final = await drafts(core)
    finally:
        fake.outage.end()
        server.stop()
    assert len(load.acked) == raw
    assert not load.failed
    assert [a.status_code for a in answers] == [200] * via_resend, [a.text for a in answers]
    assert [a.status_code for a in approvals] == [200] * people, [a.text for a in approvals]
    assert stored_at_once == raw  # stored during the outage; the others' bodies are at Resend
    assert states.get("dead", 0) == 0, (states, server.output())
    for key in [*(item[0] for item in load.emails), *received.values()]:
        assert messages.get(key) == 1, (key, messages)
    assert stored_total == total

    sent_replies = [s for s in fake.sent if "In-Reply-To" in s.headers]
    assert sorted(r for s in sent_replies for r in s.to) == sorted(customers)
    assert len({s.headers["In-Reply-To"] for s in sent_replies}) == total
    assert len({s.idempotency_key for s in sent_replies}) == total
    assert None not in {s.idempotency_key for s in fake.sent}
    assert replies == total
    assert [d.state for d in final] == ["sent"] * total
    assert sum(s.text == edited for s in sent_replies) == people // 2
    tried = reply_keys()
    assert len(tried) == total, "a retry sent a reply under a new idempotency key"
    assert all(len(to) == 1 for to in tried.values())
    sends = sum(1 for r in fake.requests if r.method == "POST" and r.path == "/emails")
    assert sends > total, "the outage was never seen"
    for lost in (r for r in fake.lost if r.path == "/emails"):  # sent; Taskra never heard
        key = lost.headers["idempotency-key"]
        later = fake.requests[next(i for i, r in enumerate(fake.requests) if r is lost) + 1 :]
        assert any(r.headers.get("idempotency-key") == key for r in later), "not retried"
    served = fake.outage.served
    assert {f.status for f in served if f.delay == 0} == {503, 500, 429}
    assert any(f.drop for f in served)
    assert any(f.lost for f in served)
    assert any(f.delay and not (f.drop or f.lost) for f in served)


# --- Stripe ----------------------------------------------------------------------------------


async def test_a_stripe_outage_delays_metering_and_bills_each_reply_once(
    env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    """The store pays for Pro through Stripe (Checkout, then Stripe's signed events posted to
    the server). Stripe then answers 500, 503 and 429 while 16 emails arrive and their
    auto-replies are drafted, so every reply's meter event fails; then requests hang for a
    second and the connection breaks (half of them after Stripe recorded the event), or are
    answered slowly; then Stripe recovers.

    Every email is acknowledged and stored at once and replied to; after the recovery Stripe
    holds exactly one meter event per draft (by its ``taskra-draft-<id>`` identifier, for
    the store's Stripe customer), every meter job is done, and no job is dead."""
    plans = {**TEST_PLANS, "pro": {**TEST_PLANS["pro"], "included_replies": 1000}}
    n = 16
    with FakeStripe() as fake:
        env = {
            **env,
            **PATIENT,
            "STRIPE_API_KEY": API_KEY,
            "STRIPE_API_URL": fake.url,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "TASKRA_BILLING_PROVIDER": "stripe",
            "TASKRA_BILLING_PLANS": json.dumps(plans),
        }
        merchant = make_test_taskra(
            database_url,
            stripe_api_key=API_KEY,
            stripe_api_url=fake.url,
            stripe_webhook_secret=WEBHOOK_SECRET,
            billing_provider="stripe",
            billing_plans=plans,
        )
        async with merchant:
            started = await merchant.billing.subscribe(
                STORE, "pro", return_url="https://taskra.test/usage", provider="stripe"
            )
        checkout = fake.complete_checkout(str(started["url"]).rsplit("/", 1)[-1])
        [customer] = fake.customers

        def metered() -> set[str]:
            """Identifiers of every meter event request Stripe received."""
            return {
                str(form.get("identifier"))
                for method, path, form in list(fake.requests)
                if method == "POST" and path == "/v1/billing/meter_events"
            }

        load = Load.make(webhooks=0, emails=n)
        server = Server(env, tmp_path / "serve.log")
        server.start()
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                for event in checkout:
                    body, headers = fake_stripe_.signed(event)
                    posted = await client.post("/webhooks/stripe", content=body, headers=headers)
                    assert posted.status_code == 200, posted.text
            core = make_test_taskra(database_url)
            async with core:

                async def on_pro() -> bool:
                    async with core.db.session() as session:
                        store = await session.scalar(
                            select(Store).where(col(Store.domain) == STORE)
                        )
                    return store is not None and store.plan == "pro"

                await until(on_pro, "the store on Stripe's Pro plan")
                fake.outage.begin(
                    fake_stripe_.api_error(500),
                    fake_stripe_.api_error(503),
                    fake_stripe_.rate_limited(),
                )
                await send(server.url, load.requests(), load)
                stored_at_once = await count(core, inbound())
                await until(lambda: len(metered()) >= n, "a meter attempt for every reply")
                assert not fake.meter_events, "Stripe was down, yet recorded an event"
                await phase(
                    fake.outage,
                    fake_stripe_.timed_out(1.0),
                    fake_stripe_.timed_out(1.0, done=True),
                    fake_stripe_.slow(0.5),
                    requests=9,
                )
                await until(lambda: bool(fake.lost), "a meter event whose answer was lost")
                fake.outage.end()
                states = await wait_idle(core, horizon=RETRYING)
                final = await drafts(core)
                meter_jobs = await jobs_of(core, METER_JOB)
                replies = await count(core, outbound())
        finally:
            fake.outage.end()
            server.stop()
    assert len(load.acked) == n
    assert not load.failed
    assert stored_at_once == n
    assert states.get("dead", 0) == 0, (states, server.output())
    assert len(final) == n
    assert replies == n
    identifiers = [e["identifier"] for e in fake.meter_events]
    assert sorted(identifiers) == sorted(f"taskra-draft-{d.id}" for d in final)
    assert len(set(identifiers)) == len(identifiers) == n, "a reply was metered twice"
    assert {e["payload"]["stripe_customer_id"] for e in fake.meter_events} == {customer}
    assert sorted(j.state for j in meter_jobs) == ["done"] * n
    for _, _, form in fake.lost:  # recorded; Taskra never heard, so it reported again
        i = next(i for i, r in enumerate(fake.requests) if r[2] is form)
        again = [r for r in fake.requests[i + 1 :] if r[2].get("identifier") == form["identifier"]]
        assert again, f"{form['identifier']} was not reported again"
    assert any(j.attempts > 1 for j in meter_jobs), "the outage was never seen"
    served = fake.outage.served
    assert {f.error.status for f in served if f.error is not None} == {500, 503, 429}
    assert any(f.drop for f in served)
    assert any(f.lost for f in served)
    assert any(f.delay and not (f.drop or f.lost) for f in served)


# --- Shopify ---------------------------------------------------------------------------------

DAN = "Dan Whitfield <dan.whitfield@example.com>"  # owns #1031 in the demo
PRIYA = "Priya Raman <priya.raman84@example.com>"  # owns #1001, #1003, #1007, #1038
EDITED = [
    "skiddaw-3l-waterproof-jacket-mens",
    "catbells-packable-rain-jacket",
    "helvellyn-800-down-jacket",
    "langdale-grid-fleece-hoodie",
    "borrowdale-merino-200-crew",
    "coniston-stretch-walking-trousers",
]


@pytest.fixture
def shopify() -> Iterator[FakeShopify]:
    """The fake at a Shopify Plus restore rate, so the install's sync rarely waits."""
    with FakeShopify(restore_rate=1000.0) as fake:
        yield fake


async def catalog(core: Taskra, store_id: int) -> dict[str, tuple[str, int]]:
    """Source id -> (title, number of passages) of the store's knowledge."""
    async with core.db.session() as session:
        items = list(
            await session.scalars(
                select(KnowledgeItem).where(col(KnowledgeItem.store_id) == store_id)
            )
        )
        rows = await session.execute(
            select(KnowledgePassage.source_id, func.count())  # type: ignore[call-overload]
            .where(col(KnowledgePassage.store_id) == store_id)
            .group_by(KnowledgePassage.source_id)
        )
        passages = {str(source): int(k) for source, k in rows.all()}
    return {item.source_id: (item.title, passages.get(item.source_id, 0)) for item in items}


def asked_for(fake: FakeShopify, word: str) -> set[str]:
    """Product ids named in Admin GraphQL requests whose query mentions ``word``."""
    found = set()
    for request in fake.requests_to("/admin/api/"):
        body = request.body if isinstance(request.body, dict) else {}
        if word in str(body.get("query", "")):
            found.add(str((body.get("variables") or {}).get("id")))
    return found


async def test_a_shopify_outage_delays_catalog_updates_and_applies_each_once(
    env: dict[str, str], database_url: str, shopify: FakeShopify, tmp_path: Path
) -> None:
    """The store is installed (token exchange) and its catalog synced while Shopify is up.
    Then Shopify's Admin API answers 502, 503, 429 and THROTTLED while the merchant edits 6
    products (2 of them twice) and renames the shop: Shopify's products/update and
    shop/update webhooks (each delivered twice) reach the server, and two customers ask
    "where is my order?". Then Admin API requests hang for a second and the connection
    breaks, or are answered slowly (slower than the order look-up's timeout); then Shopify
    recovers.

    Every webhook and email is acknowledged at once; each delivery is stored once; after the
    recovery every edited product's knowledge has Shopify's latest title, no knowledge item
    or passage is duplicated, the shop has its new name, and no job is dead. The drafts made
    during the outage say order data is unavailable and go to a person (none is sent), and an
    order question after the recovery is answered from Shopify again."""
    fake = shopify
    env = {
        **env,
        **PATIENT,
        # Nothing is killed here: a lease longer than the install's catalog sync.
        "TASKRA_JOB_LEASE_SECONDS": "60",
        "TASKRA_SHOPIFY_ORIGIN": fake.origin,
        "TASKRA_SECRET_KEY": TEST_SECRET_KEY,  # the installed store's tokens are sealed with it
        "TASKRA_SHOPIFY_ORDERS_TIMEOUT_SECONDS": "0.5",
        "TASKRA_SHOPIFY_ORDERS_CACHE_SECONDS": "0",  # every draft asks Shopify
        # A job waits out Shopify's failures in-process for at most this long per attempt
        # (then retries with backoff), so the outage does not hold the worker's slots long.
        "TASKRA_SHOPIFY_THROTTLE_WAIT_SECONDS": "1",
    }
    installer = make_test_taskra(
        database_url,
        plugins=[taskra_shopify.plugin],
        shopify_api_key=CLIENT_ID,
        shopify_api_secret=CLIENT_SECRET,
        shopify_origin=fake.origin,
    )
    async with installer:
        store = await install(installer)
    assert store.id is not None
    graphql = fake.outages["graphql"]
    server = Server(env, tmp_path / "serve.log")
    server.start()
    try:
        core = make_test_taskra(database_url)
        async with core:
            await wait_idle(core, horizon=RETRYING)  # the install's catalog sync, with Shopify up
            assert [j.state for j in await jobs_of(core, "shopify.sync")] == ["done"]
            before = await catalog(core, store.id)
            graphql.begin(
                fake_shopify_.server_error(502),
                fake_shopify_.server_error(503),
                fake_shopify_.rate_limited(0.5),
                fake_shopify_.throttled(requested=150, available=100, restore_rate=100.0),
            )
            webhooks: list[tuple[bytes, dict[str, str]]] = []
            originals = {h: fake.product_by_handle(h)["title"] for h in EDITED}
            titles: dict[str, str] = {}
            for round_, handles in enumerate((EDITED, EDITED[:2]), start=2):
                for handle in handles:
                    product = fake.product_by_handle(handle)
                    title = f"{originals[handle]} (edition {round_})"
                    fake.update_product(handle, title=title)
                    titles[f"product:{handle}"] = title
                    gid = product["id"]
                    payload = {"id": int(gid.rsplit("/", 1)[1]), "admin_graphql_api_id": gid}
                    webhooks.append(delivery("products/update", payload))
            fake.shop_data["name"] = "Fell & Ford Outfitters"
            webhooks.append(delivery("shop/update", {"domain": SHOP, "name": "Fell & Ford"}))
            load = Load()
            load.emails += [
                raw_from(DAN, "Where is my order?", "My order"),
                raw_from(PRIYA, "Where is my order? It has been a week.", "Order status"),
            ]
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                acks = [
                    await client.post("/webhooks/shopify", content=body, headers=headers)
                    for body, headers in [*webhooks, *webhooks]  # Shopify delivers twice
                ]
            await send(server.url, load.requests(), load)
            gids = {fake.product_by_handle(h)["id"] for h in EDITED}
            await until(lambda: gids <= asked_for(fake, "product("), "every product asked for")
            await until(lambda: at_least(drafts(core), 2), "a draft for each order question")
            await phase(
                graphql, fake_shopify_.timed_out(1.0), fake_shopify_.delayed(1.0), requests=6
            )
            graphql.end()
            states = await wait_idle(core, horizon=RETRYING)
            after = await catalog(core, store.id)
            during = await drafts(core)
            async with core.db.session() as session:
                receipts = await session.execute(
                    select(WebhookReceipt.delivery_id, func.count())  # type: ignore[call-overload]
                    .where(col(WebhookReceipt.source) == "shopify")
                    .group_by(WebhookReceipt.delivery_id)
                )
                per_delivery = {str(k): int(v) for k, v in receipts.all()}
                renamed = await session.get(Store, store.id)
            sent_during = await count(core, outbound())
            webhook_jobs = await jobs_of(core, "shopify.webhook")
            # Shopify is back: a new order question is answered from its orders.
            later = Load()
            later.emails.append(raw_from(DAN, "Where is my order #1031?", "Tracking please"))
            await send(server.url, later.requests(), later)
            await wait_idle(core, horizon=RETRYING)
            last = (await drafts(core))[-1]
    finally:
        graphql.end()
        server.stop()
    assert [a.status_code for a in acks] == [200] * len(acks), [a.text for a in acks]
    assert len(load.acked) == 2
    assert len(later.acked) == 1
    assert states.get("dead", 0) == 0, (states, server.output())
    ids = [headers["X-Shopify-Webhook-Id"] for _, headers in webhooks]
    assert all(per_delivery.get(i) == 1 for i in ids), per_delivery
    assert len(webhook_jobs) == len(ids), "a repeated delivery queued its work again"
    assert all(j.state == "done" for j in webhook_jobs)
    assert any(j.attempts > 1 for j in webhook_jobs), "the outage was never seen"
    assert all(before[f"product:{h}"][0] == title for h, title in originals.items())
    assert set(after) == set(before), "knowledge items were added or lost"
    for source_id, (title, passages) in after.items():
        assert passages == before[source_id][1], f"{source_id}: passages duplicated or lost"
        assert title == titles.get(source_id, before[source_id][0]), source_id
    assert renamed is not None
    assert renamed.name == "Fell & Ford Outfitters"
    assert len(during) == 2
    for draft in during:
        assert draft.state == "escalated", draft.state
        assert any(r.startswith("orders_unavailable") for r in draft.escalation_reasons)
    assert sent_during == 0
    assert last.message_id not in {d.message_id for d in during}
    assert not any(r.startswith("orders_unavailable") for r in last.escalation_reasons)
    assert "order:#1031" in last.sources, last.sources
    served = graphql.served
    assert {f.status for f in served if not f.delay} >= {502, 503, 429, 200}
    assert any(f.drop for f in served)
    assert any(f.delay and not f.drop for f in served)
