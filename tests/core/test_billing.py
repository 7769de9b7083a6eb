"""Plans, usage against them and the caps that stop drafting, and metering through Stripe:
the billing service on a real database with the demo store, the real ``stripe`` SDK talking
to the fake Stripe, and events delivered signed by the SDK's own helper."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from taskra_core import hookimpl
from taskra_core.app import Taskra
from taskra_core.billing.plans import Plans
from taskra_core.billing.providers import BillingProvider, Checkout, UsageReport
from taskra_core.billing.service import METER_JOB
from taskra_core.billing.stripe_events import receive
from taskra_core.billing.usage import crossed, forecast
from taskra_core.demo import FELLANDFORD
from taskra_core.errors import InvalidInput, StartupError
from taskra_core.inbox.messages import InboundMessage
from taskra_core.knowledge.importer import import_store
from taskra_core.models import BillingSubscription, Draft, JobRecord, Store, Usage
from taskra_core.settings import Settings
from taskra_core.testing import MockModelPlugin, MockReplyModel, make_test_taskra
from taskra_core.worker import Worker
from tests.fakes.stripe import API_KEY, TEST_PLANS, WEBHOOK_SECRET, FakeStripe, signed

AS_OF = datetime(2025, 3, 17, 10, 0, tzinfo=UTC)
DOMAIN = "fellandford.myshopify.com"
RETURN = "https://taskra.test/usage"
FREE_OF_3 = {"free": {"title": "Free", "price_cents": 0, "included_replies": 3}}


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


def reply(request: Any) -> Any:
    from taskra_core.drafting.types import ModelReply

    return ModelReply(
        text="The Skiddaw comes up true to size.",
        model="mock",
        sources=("product:skiddaw-3l-waterproof-jacket-mens",),
        intent="product_question",
        language="en",
        confidence=0.9,
    )


async def start(database_url: str, fake: FakeStripe | None = None, **settings: Any) -> Taskra:
    stripe_settings: dict[str, Any] = {}
    if fake is not None:
        stripe_settings = {
            "stripe_api_key": API_KEY,
            "stripe_api_url": fake.url,
            "stripe_webhook_secret": WEBHOOK_SECRET,
            "billing_provider": "stripe",
        }
    plans = {**TEST_PLANS, **FREE_OF_3, **settings.pop("billing_plans", {})}
    plugins = settings.pop("plugins", [])
    taskra = make_test_taskra(
        database_url,
        plugins=[MockModelPlugin(MockReplyModel(reply)), *plugins],
        reply_model="mock",
        now=AS_OF,
        billing_plans=plans,
        **stripe_settings,
        **settings,
    )
    await taskra.startup()
    await import_store(taskra, FELLANDFORD)
    return taskra


@pytest.fixture
async def core(database_url: str, fake_stripe: FakeStripe) -> AsyncIterator[Taskra]:
    taskra = await start(database_url, fake_stripe)
    try:
        yield taskra
    finally:
        await taskra.shutdown()


async def store_of(taskra: Taskra) -> Store:
    async with taskra.db.session() as session:
        store = await session.scalar(select(Store).where(col(Store.domain) == DOMAIN))
    assert store is not None
    return store


async def receive_message(taskra: Taskra, n: int) -> None:
    store = await store_of(taskra)
    assert store.id is not None
    await taskra.inbox.receive(
        store.id,
        InboundMessage(
            channel="email",
            from_email=f"shopper{n}@example.com",
            text=f"Does the Skiddaw jacket come up big? (question {n})",
            subject=f"Sizing {n}",
        ),
    )


async def drain(taskra: Taskra, workers: int = 1) -> None:
    for _ in range(400):
        await asyncio.gather(*(Worker(taskra).run_until_idle() for _ in range(workers)))
        counts = await taskra.jobs.counts()
        if counts["queued"] == 0 and counts["running"] == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("jobs did not settle")


async def drafts(taskra: Taskra) -> list[Draft]:
    async with taskra.db.session() as session:
        return list(await session.scalars(select(Draft).order_by(col(Draft.id))))


async def deliver(taskra: Taskra, events: list[dict[str, Any]]) -> list[bool]:
    """Deliver ``events`` as Stripe does (signed), then run the jobs they queue."""
    results = []
    for event in events:
        body, headers = signed(event)
        results.append(await receive(taskra, body, headers["Stripe-Signature"]))
    await drain(taskra)
    return results


async def subscribe_with_stripe(taskra: Taskra, fake: FakeStripe, plan: str) -> str:
    """Subscribe through Checkout and complete it on the fake's page; the subscription id."""
    store = await store_of(taskra)
    started = await taskra.billing.subscribe(store, plan, return_url=RETURN, provider="stripe")
    session_id = started["url"].rsplit("/", 1)[-1]
    events = fake.complete_checkout(session_id)
    await deliver(taskra, events)
    return str(events[1]["data"]["object"]["id"])


# --- plans and usage -------------------------------------------------------------------------


def test_plans_merge_configured_over_built_in() -> None:
    """TASKRA_BILLING_PLANS replaces a built-in plan by name and adds new ones; plans are in
    price order; an unknown name is refused with the choices."""
    settings = Settings.from_values(billing_plans={**TEST_PLANS, **FREE_OF_3})
    plans = Plans(settings)
    assert [p.name for p in plans.all()] == ["free", "starter", "pro"]
    starter = plans.get("starter")
    assert (starter.included_replies, starter.reply_limit) == (5, 7)  # 8 cents buys 2 more
    assert starter.charge_cents(3) == 1900
    assert starter.charge_cents(6) == 1904
    assert starter.charge_cents(100) == 1908  # never beyond the overage cap
    assert plans.get("free").reply_limit == 3
    assert plans.of_store("retired-plan").name == "free"
    assert plans.by_stripe_price("price_pro_replies") == plans.get("pro")
    with pytest.raises(InvalidInput, match="choose one of free, starter, pro"):
        plans.get("gold")


def test_forecast_extrapolates_the_period_so_far() -> None:
    """Half-way through a 30-day month, 10 replies forecast 20; on the first day nothing is
    extrapolated from less than a day; a finished month forecasts what it had."""
    assert forecast(10, "2025-04", datetime(2025, 4, 16, tzinfo=UTC)) == 20
    assert forecast(3, "2025-04", datetime(2025, 4, 1, 1, tzinfo=UTC)) == 90
    assert forecast(7, "2025-03", datetime(2025, 4, 2, tzinfo=UTC)) == 7


def test_allowance_thresholds_are_each_reached_by_one_reply() -> None:
    """With 5 included replies, reply 4 reaches 80% and reply 5 reaches 100%; no other does."""
    plan = Plans(Settings.from_values(billing_plans=TEST_PLANS)).get("starter")
    assert {n: crossed(plan, n) for n in range(1, 8) if crossed(plan, n)} == {4: [80], 5: [100]}


async def test_free_allowance_stops_drafting_with_a_clear_reason(core: Taskra) -> None:
    """On the free plan (3 replies here) the 4th message gets no AI draft: it is escalated
    with the reason, the model is not called, and usage counts exactly 3 replies."""
    for n in range(4):
        await receive_message(core, n)
        await drain(core)
    found = await drafts(core)
    assert [d.state for d in found[:3]] == ["drafted"] * 3
    capped = found[3]
    assert capped.state == "escalated"
    assert capped.model == "none"
    [reason] = capped.escalation_reasons
    assert reason.startswith("allowance_exhausted: the Free plan's 3 AI replies for 2025-03")
    assert "upgrade" in reason
    allowance = await core.billing.allowance(DOMAIN)
    assert (allowance.ai_replies, allowance.exhausted) == (3, True)
    assert allowance.as_dict()["reason"] in reason


async def test_state_shows_plan_usage_and_forecast(core: Taskra) -> None:
    """The billing state a page shows: plan, plans on offer, usage with its forecast."""
    await receive_message(core, 1)
    await drain(core)
    state = await core.billing.state(DOMAIN)
    assert state["plan"]["name"] == "free"
    assert [p["name"] for p in state["plans"]] == ["free", "starter", "pro"]
    assert state["provider"] == "stripe"
    assert state["subscription"] is None
    usage = state["allowance"]
    # 1 reply by the 17th 10:00 of a 31-day month forecasts 2.
    assert (usage["ai_replies"], usage["forecast_replies"], usage["exhausted"]) == (1, 2, False)


# --- the provider registry -------------------------------------------------------------------


class AcmeBilling(BillingProvider):
    name = "acme"

    def __init__(self) -> None:
        self.reports: list[UsageReport] = []

    async def start_subscription(self, taskra, store, plan, return_url, current):  # type: ignore[no-untyped-def]
        return Checkout(url=f"https://acme.test/pay?plan={plan.name}", external_id="acme-1")

    async def cancel(self, taskra, store, current):  # type: ignore[no-untyped-def]
        return None

    async def report_usage(self, taskra, store, current, report):  # type: ignore[no-untyped-def]
        self.reports.append(report)


class AcmePlugin:
    __name__ = "acme-billing"

    def __init__(self, provider: AcmeBilling) -> None:
        self.provider = provider

    @hookimpl
    def register_billing_providers(self, register: Callable[..., None]) -> None:
        register("acme", lambda settings: self.provider)


async def test_hook_register_billing_providers(database_url: str) -> None:
    """A plugin's provider is offered and used: subscribing records its pending
    subscription, and once the provider reports it live, replies are reported to it."""
    acme = AcmeBilling()
    taskra = await start(database_url, plugins=[AcmePlugin(acme)])
    try:
        assert set(taskra.billing.providers.names) == {"acme", "stripe"}
        started = await taskra.billing.subscribe(DOMAIN, "pro", return_url=RETURN, provider="acme")
        assert started["url"] == "https://acme.test/pay?plan=pro"
        store = await store_of(taskra)
        assert store.plan == "free"  # nothing changes until the provider confirms
        assert store.id is not None
        async with taskra.db.transaction() as session:
            applied = await taskra.billing.apply_subscription(
                session, store.id, "acme", "acme-1", status="active", event_at=AS_OF
            )
        assert applied
        assert (await store_of(taskra)).plan == "pro"
        await receive_message(taskra, 1)
        await drain(taskra)
        [report] = acme.reports
        assert (report.ordinal, report.period, report.plan.name) == (1, "2025-03", "pro")
    finally:
        await taskra.shutdown()


async def test_a_provider_name_registered_twice_stops_startup(database_url: str) -> None:
    """Two plugins claiming one provider name is a start-up error, not a silent winner."""

    class Twice:
        __name__ = "twice"

        @hookimpl
        def register_billing_providers(self, register: Callable[..., None]) -> None:
            register("stripe", lambda settings: AcmeBilling())

    taskra = make_test_taskra(database_url, plugins=[Twice()])
    with pytest.raises(StartupError, match="registered twice"):
        await taskra.startup()
    await taskra.shutdown()


# --- Stripe ----------------------------------------------------------------------------------


async def billing_records(taskra: Taskra) -> list[Any]:
    from taskra_core.models import BillingRecord

    async with taskra.db.session() as session:
        return list(await session.scalars(select(BillingRecord).order_by(col(BillingRecord.id))))


async def test_stripe_subscribe_hit_cap_upgrade_and_continue(
    core: Taskra, fake_stripe: FakeStripe
) -> None:
    """The acceptance path through Stripe: Checkout -> signed events -> Starter; its 5
    replies plus 2 of overage are drafted and metered, the 8th is capped with the reason;
    an in-app upgrade to Pro changes the subscription's prices and drafting continues."""
    sub_id = await subscribe_with_stripe(core, fake_stripe, "starter")
    store = await store_of(core)
    assert store.plan == "starter"
    [customer] = fake_stripe.customers
    [checkout] = fake_stripe.checkout_sessions.values()
    assert checkout["client_reference_id"] == str(store.id)
    assert [i["price"] for i in checkout["line_items"]] == [
        "price_starter",
        "price_starter_replies",
    ]
    state = await core.billing.state(store)
    assert state["subscription"]["status"] == "active"
    [invoice] = await billing_records(core)
    assert (invoice.provider, invoice.kind, invoice.status) == ("stripe", "invoice", "paid")
    assert (invoice.amount_cents, invoice.currency, invoice.store_id) == (1900, "USD", store.id)

    for n in range(8):
        await receive_message(core, n)
        await drain(core)
    found = await drafts(core)
    assert [d.state for d in found] == ["drafted"] * 7 + ["escalated"]
    assert found[7].escalation_reasons[0].startswith("allowance_exhausted: the Starter plan's 5")
    metered = [e["identifier"] for e in fake_stripe.meter_events]
    assert metered == [f"taskra-draft-{d.id}" for d in found[:7]]
    assert {e["payload"]["stripe_customer_id"] for e in fake_stripe.meter_events} == {customer}
    assert {e["event_name"] for e in fake_stripe.meter_events} == {"ai_replies"}

    before = len(fake_stripe.events)
    started = await core.billing.subscribe(store, "pro", return_url=RETURN)
    assert started["url"] == f"{RETURN}?plan=changed"
    assert len(fake_stripe.checkout_sessions) == 1  # a plan change needs no new checkout
    await deliver(core, fake_stripe.events_since(before))
    assert (await store_of(core)).plan == "pro"
    prices = {i["price"]["id"] for i in fake_stripe.subscriptions[sub_id]["items"]["data"]}
    assert prices == {"price_pro", "price_pro_replies"}
    await receive_message(core, 99)
    await drain(core)
    assert (await drafts(core))[-1].state == "drafted"
    assert len(fake_stripe.meter_events) == 8


async def test_replayed_and_out_of_order_events_change_nothing(
    core: Taskra, fake_stripe: FakeStripe
) -> None:
    """A replayed event is stored once and applied once; an older subscription event that
    arrives after a newer one (cancelled) cannot bring the plan back."""
    sub_id = await subscribe_with_stripe(core, fake_stripe, "starter")
    replay = fake_stripe.events[:3]
    assert await deliver(core, replay) == [False, False, False]
    assert len(await billing_records(core)) == 1

    before = len(fake_stripe.events)
    stale_update = fake_stripe.event(
        "customer.subscription.updated", fake_stripe.subscriptions[sub_id]
    )
    await core.billing.subscribe(DOMAIN, "free", return_url=RETURN)  # cancels at Stripe
    cancelled = [e for e in fake_stripe.events_since(before) if e is not stale_update]
    assert [e["type"] for e in cancelled] == ["customer.subscription.deleted"]
    await deliver(core, cancelled)
    assert (await store_of(core)).plan == "free"
    assert await deliver(core, [stale_update]) == [True]  # stored, but older: ignored
    assert (await store_of(core)).plan == "free"
    async with core.db.session() as session:
        row = await session.scalar(
            select(BillingSubscription).where(col(BillingSubscription.external_id) == sub_id)
        )
    assert row is not None
    assert row.status == "canceled"


async def test_a_bad_signature_is_refused_and_stores_nothing(
    core: Taskra, fake_stripe: FakeStripe
) -> None:
    """An event signed with another secret, a tampered body or no signature is refused
    (StripeSignatureInvalid, a 400 in the shell) and nothing is stored or applied."""
    from taskra_core.errors import StripeSignatureInvalid
    from taskra_core.models import WebhookReceipt

    store = await store_of(core)
    await core.billing.subscribe(store, "starter", return_url=RETURN, provider="stripe")
    [session_id] = fake_stripe.checkout_sessions
    events = fake_stripe.complete_checkout(session_id)
    body, headers = signed(events[1], secret="whsec_someone_else")
    good_body, good_headers = signed(events[1])
    for raw, signature in (
        (body, headers["Stripe-Signature"]),
        (good_body.replace(b'"active"', b'"trialing"'), good_headers["Stripe-Signature"]),
        (good_body, None),
    ):
        with pytest.raises(StripeSignatureInvalid):
            await receive(core, raw, signature)
    async with core.db.session() as session:
        assert list(await session.scalars(select(WebhookReceipt))) == []
    assert (await store_of(core)).plan == "free"


async def test_a_failed_payment_is_recorded_and_the_merchant_told(
    core: Taskra, fake_stripe: FakeStripe
) -> None:
    """invoice.payment_failed keeps the invoice (status payment_failed, no card data) and
    queues one payment-failed email; the plan stays while Stripe retries (past_due)."""
    sub_id = await subscribe_with_stripe(core, fake_stripe, "starter")
    events = fake_stripe.fail_payment(sub_id)
    await deliver(core, events)
    await deliver(core, events)  # Stripe retries deliveries: still one email
    records = await billing_records(core)
    assert [r.status for r in records] == ["paid", "payment_failed"]
    assert "card" not in str(records[1].data)
    store = await store_of(core)
    assert store.plan == "starter"
    outbox = core.mailer.outbox  # type: ignore[attr-defined]
    failed = [e for e in outbox if "Payment for Taskra failed" in e.subject]
    assert len(failed) == 1
    assert "19.00 USD" in failed[0].text
    assert failed[0].html is not None
    assert "TASKRA-0002" in failed[0].html
    portal = await core.billing.manage_url(store, RETURN)
    assert portal == fake_stripe.portal_sessions[0]["url"]
    assert fake_stripe.portal_sessions[0]["return_url"] == RETURN


async def test_parallel_drafts_meter_exactly_n_replies(
    database_url: str, fake_stripe: FakeStripe
) -> None:
    """N messages drafted by several workers at once: exactly N AI replies counted, their
    numbers in the period are 1..N with none repeated, and N meter events reach Stripe,
    one per draft, even though each report job runs twice."""
    n = 12
    taskra = await start(
        database_url,
        fake_stripe,
        worker_concurrency=4,
        billing_plans={"pro": {**TEST_PLANS["pro"], "included_replies": 1000}},
    )
    try:
        await subscribe_with_stripe(taskra, fake_stripe, "pro")
        await asyncio.gather(*(receive_message(taskra, i) for i in range(n)))
        await drain(taskra, workers=3)
        async with taskra.db.session() as session:
            usage = await session.scalar(select(Usage))
            jobs = list(
                await session.scalars(select(JobRecord).where(col(JobRecord.kind) == METER_JOB))
            )
        assert usage is not None
        assert usage.ai_replies == n
        assert sorted(int(j.payload["ordinal"]) for j in jobs) == list(range(1, n + 1))
        assert len(fake_stripe.meter_events) == n
        # Run every report again (a retry after a crash): Stripe still has N events.
        async with taskra.db.transaction() as session:
            for job in jobs:
                await taskra.jobs.enqueue(session, METER_JOB, job.payload, store_id=job.store_id)
        await drain(taskra)
        assert len({e["identifier"] for e in fake_stripe.meter_events}) == n
        assert len(fake_stripe.meter_events) == n
    finally:
        await taskra.shutdown()


async def test_a_provider_without_keys_is_refused_with_the_reason(database_url: str) -> None:
    """A store not installed from Shopify (no token) is billed through Stripe by default;
    without STRIPE_API_KEY, subscribing is refused with a clear reason (not a server error)
    and nothing is recorded."""
    taskra = await start(database_url)
    try:
        assert (await taskra.billing.state(DOMAIN))["provider"] == "stripe"
        with pytest.raises(InvalidInput, match="Billing through stripe is not set up"):
            await taskra.billing.subscribe(DOMAIN, "pro", return_url=RETURN, provider="stripe")
        async with taskra.db.session() as session:
            assert list(await session.scalars(select(BillingSubscription))) == []
    finally:
        await taskra.shutdown()


async def test_a_stripe_outage_delays_metering_and_bills_once(
    core: Taskra, fake_stripe: FakeStripe
) -> None:
    """Stripe answering 500 to a meter event makes the job retry with backoff; once Stripe
    answers, the reply is reported, once."""
    from tests.fakes.stripe import StripeError

    await subscribe_with_stripe(core, fake_stripe, "starter")
    fake_stripe.fail_next.extend([StripeError(500, "boom", kind="api_error")] * 2)
    await receive_message(core, 1)
    await drain(core)
    [draft] = await drafts(core)
    assert [e["identifier"] for e in fake_stripe.meter_events] == [f"taskra-draft-{draft.id}"]
    async with core.db.session() as session:
        [job] = await session.scalars(select(JobRecord).where(col(JobRecord.kind) == METER_JOB))
    assert (job.state, job.attempts) == ("done", 3)


async def test_trial_ending_tells_the_merchant(core: Taskra, fake_stripe: FakeStripe) -> None:
    """customer.subscription.trial_will_end queues one trial-ending email with the date."""
    sub_id = await subscribe_with_stripe(core, fake_stripe, "starter")
    subscription = {**fake_stripe.subscriptions[sub_id], "trial_end": 1743000000}
    event = fake_stripe.event("customer.subscription.trial_will_end", subscription)
    await deliver(core, [event, event])
    outbox = core.mailer.outbox  # type: ignore[attr-defined]
    [email] = [e for e in outbox if "trial ends" in e.subject]
    assert "26 March 2025" in email.text
    assert "Starter" in email.text


def test_billing_commands_show_plans_and_a_store_against_its_plan(database_url: str) -> None:
    """`taskra billing plans --json` lists the configured plans; `taskra billing show`
    prints the store's plan, usage against the allowance and the forecast."""
    import json

    from tests.core.test_cli import taskra as run_cli

    env = {
        "TASKRA_DATABASE_URL": database_url,
        "TASKRA_NOW": AS_OF.isoformat(),
        "TASKRA_BILLING_PLANS": json.dumps(FREE_OF_3),
    }
    plans = json.loads(run_cli("billing", "plans", "--json", **env).stdout)
    assert [(p["name"], p["included_replies"]) for p in plans] == [
        ("free", 3),
        ("starter", 500),
        ("pro", 3000),
    ]
    run_cli("store", "import", str(FELLANDFORD), **env)
    run_cli("draft", "--shop", DOMAIN, "--from", "jo@example.com", "Skiddaw sizing?", **env)
    shown = run_cli("billing", "show", "--shop", DOMAIN, **env).stdout
    assert "plan: Free" in shown
    assert "2025-03: 1 of 3 AI replies (33%), forecast 2 replies, 0.00 USD" in shown
