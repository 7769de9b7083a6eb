"""An outage of Resend against a real ``taskra serve``, while auto-replies and
merchant-approved replies are being sent and while mail arrives through Resend's receiving:
errors, then hung requests (some of which Resend had carried out before the connection
broke) and slow answers. Every customer gets exactly one email, every retry carries the same
idempotency key, and mail whose body sits at Resend is stored once Resend answers."""

from __future__ import annotations

import collections
from pathlib import Path

import httpx
import pytest

from taskra_core.models import Draft
from taskra_core.testing import make_test_taskra
from tests.fakes import resend as fake_resend
from tests.fakes.resend import FakeResend
from tests.fakes.shopify import mint_id_token
from tests.reliability.conftest import DOMAIN, STORE
from tests.reliability.outages import (
    A_PERSON,
    RETRYING,
    TROUSERS,
    at_least,
    count,
    drafts,
    inbound,
    outage_server,
    outbound,
    phase,
    raw_email,
    until,
)
from tests.reliability.test_crash import Load, send, stored, wait_idle

pytestmark = pytest.mark.reliability


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
    server = outage_server(env, tmp_path, {"RESEND_WEBHOOK_SECRET": fake.webhook_secret})
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
