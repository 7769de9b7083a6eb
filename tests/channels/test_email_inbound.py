"""Inbound email over HTTP: signed raw MIME and Resend's ``email.received`` webhook reach the
right store's inbox once, bad signatures and oversized or misaddressed mail change nothing,
Resend outages delay mail without losing it, and bounces and complaints mark the customer."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col
from starlette.applications import Starlette
from taskra_email import plugin
from taskra_email.resend_events import FETCH_JOB
from taskra_email.signing import sign

import taskra_shopify.plugin
from taskra_core.app import Taskra
from taskra_core.clock import ManualClock
from taskra_core.demo import FELLANDFORD
from taskra_core.drafting.service import DRAFT_JOB
from taskra_core.inbox.messages import InboundMessage
from taskra_core.knowledge.importer import import_store
from taskra_core.models import Customer, JobRecord, Message, Store
from taskra_core.testing import make_test_taskra
from taskra_core.worker import Worker
from taskra_shopify.app import create_app
from tests.fakes.resend import FakeResend, server_error

SECRET = "inbound-secret-for-tests-0123456789abcdef"
DOMAIN = "in.taskra.test"
STORE_ADDRESS = f"fellandford@{DOMAIN}"
PRIYA = "priya.raman84@example.com"


def raw_email(
    *,
    to: str = STORE_ADDRESS,
    sender: str = f"Priya Raman <{PRIYA}>",
    subject: str = "Trousers too long",
    body: str = "Hi, can I return the Dunmail trousers from #1001?\n\nThanks, Priya",
    message_id: str = "<CAF-first@mail.example.com>",
    headers: dict[str, str] | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return bytes(message)


@pytest.fixture(autouse=True)
def _info_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Log records are built for real (a bad ``extra`` key fails only when INFO is on)."""
    caplog.set_level(logging.INFO)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2025, 3, 17, 10, 0, tzinfo=UTC))


@pytest.fixture
async def running(
    database_url: str, fake_resend: FakeResend, clock: ManualClock
) -> AsyncIterator[tuple[Taskra, Starlette]]:
    """The app with the email plugin, the demo store and its lifespan running (no worker)."""
    taskra = make_test_taskra(
        database_url,
        plugins=[plugin, taskra_shopify.plugin],
        clock=clock,
        email_inbound_domain=DOMAIN,
        email_inbound_secret=SECRET,
        email_max_bytes=64 * 1024,
        resend_api_key="re_test_key",
        resend_api_url=fake_resend.url,
        resend_webhook_secret=fake_resend.webhook_secret,
        email_from="Taskra <replies@taskra.test>",
    )
    app = create_app(taskra, run_worker=False)
    async with app.router.lifespan_context(app):
        await import_store(taskra, FELLANDFORD)
        yield taskra, app


@pytest.fixture
async def client(running: tuple[Taskra, Starlette]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=running[1])
    async with httpx.AsyncClient(transport=transport, base_url="https://taskra.test") as c:
        yield c


async def post_raw(
    client: httpx.AsyncClient, raw: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    signed = sign(SECRET, raw) if headers is None else headers
    return await client.post("/channels/email/inbound", content=raw, headers=signed)


async def count(taskra: Taskra, model: Any, *where: Any) -> int:
    async with taskra.db.session() as session:
        return int(
            (await session.execute(select(func.count()).select_from(model).where(*where))).scalar()
            or 0
        )


# --- raw MIME ----------------------------------------------------------------------------------


async def test_signed_raw_email_is_stored_once_in_the_stores_inbox(
    running: tuple[Taskra, Starlette], client: httpx.AsyncClient
) -> None:
    """201 with the conversation; the stored text is the visible reply without signature;
    the same Message-ID again is a 200 duplicate and stores nothing more."""
    taskra, _ = running
    raw = raw_email(body="Can I return the trousers?\n\n> On Monday you wrote:\n> old text")
    first = await post_raw(client, raw)
    again = await post_raw(client, raw)
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "stored"
    assert again.status_code == 200
    assert again.json() == {**first.json(), "status": "duplicate"}
    async with taskra.db.session() as session:
        [message] = (await session.execute(select(Message))).scalars().all()
    assert message.text == "Can I return the trousers?"
    assert message.channel == "email"
    assert message.channel_message_id == "<CAF-first@mail.example.com>"
    assert message.meta["source"] == "raw"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"X-Taskra-Timestamp": "1", "X-Taskra-Signature": "v1=00"}, 401),
        ({}, 400),
        ({"X-Taskra-Timestamp": "soon", "X-Taskra-Signature": "v1=00"}, 400),
    ],
    ids=["wrong-signature", "unsigned", "bad-timestamp"],
)
async def test_unsigned_or_badly_signed_raw_email_is_refused(
    running: tuple[Taskra, Starlette],
    client: httpx.AsyncClient,
    headers: dict[str, str],
    status: int,
) -> None:
    """A missing or malformed signature is 400, a wrong one 401; nothing is stored."""
    response = await post_raw(client, raw_email(), headers)
    assert response.status_code == status
    assert response.json()["error"]["type"] in ("WebhookSignatureInvalid", "WebhookMalformed")
    assert await count(running[0], Message) == 0


async def test_a_signature_from_another_secret_or_too_old_is_401(
    running: tuple[Taskra, Starlette], client: httpx.AsyncClient
) -> None:
    """Signed with another secret, or correctly signed ten minutes ago: 401, nothing stored."""
    raw = raw_email()
    other = await post_raw(client, raw, sign("another-secret-entirely-0123456789", raw))
    stale = await post_raw(client, raw, sign(SECRET, raw, int(time.time()) - 600))
    assert (other.status_code, stale.status_code) == (401, 401)
    assert "clock" in stale.json()["error"]["message"]
    assert await count(running[0], Message) == 0


async def test_oversized_raw_email_is_413(
    running: tuple[Taskra, Starlette], client: httpx.AsyncClient
) -> None:
    """Over TASKRA_EMAIL_MAX_BYTES (64 KiB here): 413 before parsing; nothing stored."""
    raw = raw_email(body="x" * 70_000)
    response = await post_raw(client, raw)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "EmailTooLarge"
    assert await count(running[0], Message) == 0


async def test_mail_to_an_unknown_address_is_rejected_without_storing_it(
    running: tuple[Taskra, Starlette], client: httpx.AsyncClient
) -> None:
    """Another handle at the inbound domain, or another domain: 422 naming the problem."""
    customers = await count(running[0], Customer)
    for to in (f"nosuchshop@{DOMAIN}", "fellandford@elsewhere.example"):
        response = await post_raw(client, raw_email(to=to, message_id=f"<{to}>"))
        assert response.status_code == 422, to
        assert response.json()["error"]["type"] == "UnknownRecipient"
    assert await count(running[0], Message) == 0
    assert await count(running[0], Customer) == customers


async def test_the_envelope_recipient_routes_forwarded_mail(
    running: tuple[Taskra, Starlette], client: httpx.AsyncClient
) -> None:
    """Forwarded mail keeps the shop's own address in To; X-Taskra-Recipient routes it."""
    raw = raw_email(to="support@fellandford.example.com")
    headers = {**sign(SECRET, raw), "X-Taskra-Recipient": f"fellandford+fwd@{DOMAIN}"}
    response = await post_raw(client, raw, headers)
    assert response.status_code == 201, response.text


async def test_an_auto_reply_is_recorded_and_never_answered(
    running: tuple[Taskra, Starlette], client: httpx.AsyncClient
) -> None:
    """An out-of-office (Auto-Submitted) is stored as automated; no draft job is queued."""
    taskra, _ = running
    raw = raw_email(
        subject="Out of office",
        body="I am away until Monday.",
        headers={"Auto-Submitted": "auto-replied"},
    )
    response = await post_raw(client, raw)
    assert response.status_code == 201
    async with taskra.db.session() as session:
        [message] = (await session.execute(select(Message))).scalars().all()
    assert message.meta["automated"]
    assert await count(taskra, JobRecord, col(JobRecord.kind) == DRAFT_JOB) == 0


async def test_a_customer_email_is_queued_for_drafting(
    running: tuple[Taskra, Starlette], client: httpx.AsyncClient
) -> None:
    """A person's email, unlike an auto-reply, gets its draft job."""
    assert (await post_raw(client, raw_email())).status_code == 201
    assert await count(running[0], JobRecord, col(JobRecord.kind) == DRAFT_JOB) == 1


# --- Resend ------------------------------------------------------------------------------------


async def test_resend_email_received_is_fetched_by_id_and_stored_once(
    running: tuple[Taskra, Starlette], client: httpx.AsyncClient, fake_resend: FakeResend
) -> None:
    """The event queues one fetch job (a repeat queues none); the worker fetches the body
    through the Resend SDK and stores the visible reply in the store's inbox."""
    taskra, _ = running
    email_id = fake_resend.receive(
        sender=f"Priya Raman <{PRIYA}>",
        to=[STORE_ADDRESS],
        subject="Sizing",
        text="Do the Dunmail trousers run long?\n\n-- \nPriya",
        html="<p>Do the Dunmail trousers run long?</p><script>alert(1)</script>",
    )
    body, headers = fake_resend.signed(fake_resend.received_event(email_id))
    first = await client.post("/channels/email/resend", content=body, headers=headers)
    again = await client.post("/channels/email/resend", content=body, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json() == {"status": "queued", "email_id": email_id}
    assert again.status_code == 200
    assert await count(taskra, JobRecord, col(JobRecord.kind) == FETCH_JOB) == 1
    await Worker(taskra).run_until_idle()
    async with taskra.db.session() as session:
        [message] = (await session.execute(select(Message))).scalars().all()
    assert message.text == "Do the Dunmail trousers run long?"
    assert message.meta["source"] == "resend"
    assert "script" not in (message.html or "")
    assert any(r.path == f"/emails/receiving/{email_id}" for r in fake_resend.requests)


async def test_a_badly_signed_resend_webhook_is_401_and_queues_nothing(
    running: tuple[Taskra, Starlette], client: httpx.AsyncClient, fake_resend: FakeResend
) -> None:
    """Signed with another secret, or a tampered body: 401; no job."""
    email_id = fake_resend.receive(sender=PRIYA, to=[STORE_ADDRESS], subject="Hi", text="Hi")
    event = fake_resend.received_event(email_id)
    other = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
    body, headers = fake_resend.signed(event, secret=other)
    wrong = await client.post("/channels/email/resend", content=body, headers=headers)
    body, headers = fake_resend.signed(event)
    tampered = await client.post(
        "/channels/email/resend", content=body.replace(b"Hi", b"Yo"), headers=headers
    )
    assert (wrong.status_code, tampered.status_code) == (401, 401)
    assert await count(running[0], JobRecord, col(JobRecord.kind) == FETCH_JOB) == 0


async def test_resend_mail_for_an_unknown_address_is_refused_without_a_job(
    running: tuple[Taskra, Starlette], client: httpx.AsyncClient, fake_resend: FakeResend
) -> None:
    """200 (so Resend does not retry) saying it was rejected; nothing queued or stored."""
    email_id = fake_resend.receive(sender=PRIYA, to=[f"ghost@{DOMAIN}"], subject="Hi", text="Hi")
    body, headers = fake_resend.signed(fake_resend.received_event(email_id))
    response = await client.post("/channels/email/resend", content=body, headers=headers)
    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    assert await count(running[0], JobRecord, col(JobRecord.kind) == FETCH_JOB) == 0


async def test_a_resend_outage_delays_received_mail_without_losing_it(
    running: tuple[Taskra, Starlette],
    client: httpx.AsyncClient,
    fake_resend: FakeResend,
    clock: ManualClock,
) -> None:
    """The fetch fails twice (503, then 500), is retried with backoff, then stores the
    message exactly once."""
    taskra, _ = running
    email_id = fake_resend.receive(sender=PRIYA, to=[STORE_ADDRESS], subject="Hi", text="Hello?")
    body, headers = fake_resend.signed(fake_resend.received_event(email_id))
    assert (await client.post("/channels/email/resend", content=body, headers=headers)).is_success
    fake_resend.fail(server_error(503), server_error(500))
    for _ in range(4):
        await Worker(taskra).run_until_idle()
        clock.advance(3600)
    assert await count(taskra, Message) == 1
    async with taskra.db.session() as session:
        [job] = (
            (await session.execute(select(JobRecord).where(col(JobRecord.kind) == FETCH_JOB)))
            .scalars()
            .all()
        )
    assert job.state == "done"
    assert job.attempts == 3


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"type": "email.bounced", "bounce": {"type": "Permanent"}}, "bounced"),
        ({"type": "email.complained"}, "complained"),
        ({"type": "email.bounced", "bounce": {"type": "Temporary"}}, None),
    ],
    ids=["hard-bounce", "complaint", "soft-bounce"],
)
async def test_bounces_and_complaints_mark_the_customer_address(
    running: tuple[Taskra, Starlette],
    client: httpx.AsyncClient,
    fake_resend: FakeResend,
    event: dict[str, Any],
    expected: str | None,
) -> None:
    """A permanent bounce or a complaint on one of our replies (tagged with the store) marks
    that store's customer; a temporary bounce marks nothing."""
    taskra, _ = running
    assert (await post_raw(client, raw_email())).status_code == 201
    async with taskra.db.session() as session:
        [customer] = (
            (await session.execute(select(Customer).where(col(Customer.email) == PRIYA)))
            .scalars()
            .all()
        )
    data = {
        "email_id": "em_1",
        "created_at": "2025-03-17T10:00:00Z",
        "from": "replies@taskra.test",
        "to": [PRIYA],
        "subject": "Re: Trousers too long",
        "tags": {"taskra_store": str(customer.store_id)},
    }
    if "bounce" in event:
        data["bounce"] = {"message": "No such mailbox", "subType": "General", **event["bounce"]}
    body, headers = fake_resend.signed({"type": event["type"], "data": data})
    response = await client.post("/channels/email/resend", content=body, headers=headers)
    assert response.status_code == 200
    async with taskra.db.session() as session:
        marked = await session.get(Customer, customer.id)
    assert marked is not None
    assert marked.email_status == expected


async def test_a_bounce_marks_only_the_tagged_stores_customer(
    running: tuple[Taskra, Starlette], client: httpx.AsyncClient, fake_resend: FakeResend
) -> None:
    """The same address is a customer of two stores; a complaint tagged with one store marks
    only that store's customer, and an untagged event marks nobody."""
    taskra, _ = running
    async with taskra.db.transaction() as session:
        other = Store(
            domain="other.myshopify.com",
            name="Other",
            created_at=taskra.clock.now(),
            updated_at=taskra.clock.now(),
        )
        session.add(other)
    assert other.id is not None
    await taskra.inbox.receive(
        other.id, InboundMessage(channel="email", from_email=PRIYA, text="Hi")
    )
    assert (await post_raw(client, raw_email())).status_code == 201
    data = {"email_id": "em_2", "to": [PRIYA], "subject": "Re: Hi"}
    body, headers = fake_resend.signed({"type": "email.complained", "data": data})
    untagged = await client.post("/channels/email/resend", content=body, headers=headers)
    assert untagged.json()["status"] == "ignored"
    data["tags"] = {"taskra_store": str(other.id)}
    body, headers = fake_resend.signed({"type": "email.complained", "data": data})
    tagged = await client.post("/channels/email/resend", content=body, headers=headers)
    assert tagged.json() == {"status": "complained", "customers": 1}
    async with taskra.db.session() as session:
        marks = {
            c.store_id: c.email_status
            for c in (await session.execute(select(Customer).where(col(Customer.email) == PRIYA)))
            .scalars()
            .all()
        }
    assert marks[other.id] == "complained"
    assert [status for store_id, status in marks.items() if store_id != other.id] == [None]
