"""An outage of Stripe against a real ``taskra serve``, while AI replies are metered:
errors, then hung requests (some recorded by Stripe all the same) and slow answers. Each
reply's meter event reaches Stripe exactly once."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from taskra_core.billing.service import METER_JOB
from taskra_core.models import Store
from taskra_core.testing import make_test_taskra
from tests.fakes import stripe as fake_stripe_
from tests.fakes.stripe import API_KEY, TEST_PLANS, WEBHOOK_SECRET, FakeStripe
from tests.reliability.conftest import STORE
from tests.reliability.outages import (
    RETRYING,
    count,
    drafts,
    inbound,
    jobs_of,
    outage_server,
    outbound,
    phase,
    until,
)
from tests.reliability.test_crash import Load, send, wait_idle

pytestmark = pytest.mark.reliability


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
        server = outage_server(
            env,
            tmp_path,
            {
                "STRIPE_API_KEY": API_KEY,
                "STRIPE_API_URL": fake.url,
                "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "TASKRA_BILLING_PROVIDER": "stripe",
                "TASKRA_BILLING_PLANS": json.dumps(plans),
            },
        )
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
