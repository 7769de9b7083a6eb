"""Retention of operational data (billing, jobs, webhook receipts, sign-ins), the
``register_retention_policies`` hook, the daily ``retention.sweep`` job and the CLI."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from taskra_core.app import Taskra
from taskra_core.clock import ManualClock
from taskra_core.errors import StartupError
from taskra_core.hookspecs import hookimpl
from taskra_core.models import (
    Account,
    AccountSession,
    BillingRecord,
    JobRecord,
    LoginFailure,
    LoginLink,
    Message,
    Order,
    Usage,
    WebhookReceipt,
)
from taskra_core.retention import SweepContext
from taskra_core.retention.schedule import SWEEP_JOB
from taskra_core.testing import make_test_taskra
from taskra_core.worker import Worker
from tests.core.test_cli import taskra as run_cli
from tests.core.test_retention import NOW, OLD, ids, make_store, receive, set_time

DAY = timedelta(days=1)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
async def core(database_url: str, clock: ManualClock) -> AsyncIterator[Taskra]:
    taskra = make_test_taskra(database_url, clock=clock)
    await taskra.startup()
    try:
        yield taskra
    finally:
        await taskra.shutdown()


async def add(taskra: Taskra, *rows: Any) -> list[int]:
    async with taskra.db.transaction() as session:
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


def job(state: str, finished: datetime | None, key: str) -> JobRecord:
    return JobRecord(
        kind="test.kind",
        state=state,
        run_after=NOW - 200 * DAY,
        idempotency_key=key,
        created_at=NOW - 200 * DAY,
        updated_at=NOW - 200 * DAY,
        finished_at=finished,
    )


# --- billing -------------------------------------------------------------------------------


async def test_billing_records_are_kept_7_years_then_deleted(core: Taskra) -> None:
    """An invoice from 7 years and a week ago goes; one from 6 years and 11 months ago stays,
    including records whose store has been deleted (store_id is NULL)."""
    store_id = await make_store(core)

    def record(external_id: str, age: timedelta, store: int | None) -> BillingRecord:
        return BillingRecord(
            store_id=store,
            provider="stripe",
            kind="invoice",
            external_id=external_id,
            amount_cents=2900,
            occurred_at=NOW - age,
        )

    _old, _orphan, kept = await add(
        core,
        record("in_old", 7 * 366 * DAY, store_id),
        record("in_orphan", 7 * 366 * DAY, None),
        record("in_kept", (6 * 365 + 330) * DAY, store_id),
    )

    report = await core.retention.run(only=["billing_records"])

    assert report.results[0].counts == {"billing_records": 2}
    assert await ids(core, BillingRecord) == {kept}
    assert report.results[0].period == timedelta(days=2557)


async def test_usage_totals_are_kept_as_long_as_billing_records(core: Taskra) -> None:
    """Monthly usage totals (no personal data) go only when their month is over 7 years old."""
    store_id = await make_store(core)
    gone, kept = await add(
        core,
        Usage(store_id=store_id, period="2019-05", updated_at=NOW),
        Usage(store_id=store_id, period="2019-07", updated_at=NOW),
    )

    report = await core.retention.run(only=["usage"])

    assert report.results[0].counts == {"usage": 1}
    assert await ids(core, Usage) == {kept}
    assert gone not in await ids(core, Usage)


# --- jobs and webhook receipts ---------------------------------------------------------------


async def test_done_jobs_go_after_30_days_and_dead_jobs_after_90(core: Taskra) -> None:
    """Done jobs stay 30 days, dead ones 90 (for operators); queued jobs are never touched."""
    rows = await add(
        core,
        job("done", NOW - 31 * DAY, "done-old"),
        job("done", NOW - 29 * DAY, "done-new"),
        job("dead", NOW - 91 * DAY, "dead-old"),
        job("dead", NOW - 60 * DAY, "dead-new"),
        job("queued", None, "queued-old"),
    )

    report = await core.retention.run(only=["jobs", "dead_jobs"])

    assert [r.counts for r in report.results] == [{"jobs": 1}, {"jobs": 1}]
    assert await ids(core, JobRecord) == {rows[1], rows[3], rows[4]}


async def test_webhook_receipts_are_kept_30_days_and_while_their_job_needs_them(
    core: Taskra,
) -> None:
    """Receipts older than 30 days go unless their job is unfinished (it reads the payload);
    newer receipts stay so Shopify's retries (48 hours) are still recognised."""
    done_job, dead_job = await add(
        core, job("done", NOW - DAY, "done"), job("dead", NOW - DAY, "dead")
    )

    def receipt(delivery: str, age: timedelta, job_id: int | None) -> WebhookReceipt:
        return WebhookReceipt(
            source="shopify",
            topic="orders/create",
            delivery_id=delivery,
            received_at=NOW - age,
            status="done",
            job_id=job_id,
        )

    old_done, old_dead, old_none, recent = await add(
        core,
        receipt("d1", 31 * DAY, done_job),
        receipt("d2", 31 * DAY, dead_job),
        receipt("d3", 40 * DAY, None),
        receipt("d4", 29 * DAY, None),
    )

    report = await core.retention.run(only=["webhook_receipts"])

    assert report.results[0].counts == {"webhook_receipts": 2}
    assert await ids(core, WebhookReceipt) == {old_dead, recent}
    assert not {old_done, old_none} & await ids(core, WebhookReceipt)


async def test_expired_sessions_links_and_sign_in_failures_go_after_7_days(
    core: Taskra,
) -> None:
    """Sessions and links that stopped working over 7 days ago go, live ones stay; failed
    sign-ins go once they are out of the rate-limit window by as long."""
    store_id = await make_store(core)
    [account_id] = await add(
        core, Account(store_id=store_id, email="jo@example.com", created_at=NOW, updated_at=NOW)
    )

    def session(n: int, expires: timedelta, revoked: timedelta | None) -> AccountSession:
        return AccountSession(
            store_id=store_id,
            account_id=account_id,
            token_hash=f"s{n}",
            created_at=NOW - 30 * DAY,
            expires_at=NOW + expires,
            revoked_at=NOW + revoked if revoked is not None else None,
        )

    def link(n: int, expires: timedelta, used: timedelta | None) -> LoginLink:
        return LoginLink(
            store_id=store_id,
            account_id=account_id,
            token_hash=f"l{n}",
            created_at=NOW - 30 * DAY,
            expires_at=NOW + expires,
            used_at=NOW + used if used is not None else None,
        )

    sessions = await add(
        core,
        session(1, -8 * DAY, None),  # expired long ago
        session(2, 5 * DAY, -8 * DAY),  # revoked long ago
        session(3, -6 * DAY, None),  # expired recently: kept a little longer
        session(4, 5 * DAY, None),  # live
    )
    links = await add(core, link(1, -8 * DAY, None), link(2, 5 * DAY, -9 * DAY), link(3, DAY, None))
    failures = await add(
        core,
        LoginFailure(email="jo@example.com", client_key="10.0.0.1", failed_at=NOW - 8 * DAY),
        LoginFailure(email="jo@example.com", client_key="10.0.0.1", failed_at=NOW - DAY),
    )

    report = await core.retention.run(only=["sign_ins"])

    assert report.results[0].counts == {
        "account_sessions": 2,
        "login_links": 2,
        "login_failures": 1,
    }
    assert await ids(core, AccountSession) == set(sessions[2:])
    assert await ids(core, LoginLink) == {links[2]}
    assert await ids(core, LoginFailure) == {failures[1]}


# --- the hook ------------------------------------------------------------------------------


class OrdersPolicy:
    """A plugin covering stored orders: deletes those placed before its cutoff."""

    __name__ = "test-orders-retention"

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.cutoffs: list[datetime] = []

    @hookimpl
    def register_retention_policies(self, register: Any) -> None:
        register(
            "test.orders",
            self.sweep,
            period=lambda settings: timedelta(days=settings.retention_messages_days * 2),
            description="Stored orders, two message periods after they were placed.",
        )

    async def sweep(self, ctx: SweepContext) -> dict[str, int]:
        self.cutoffs.append(ctx.cutoff)
        if self.fail:
            raise RuntimeError("orders of jo@example.com are locked")
        orders = Order.__table__  # type: ignore[attr-defined]
        return dict(await ctx.delete(orders, orders.c.placed_at < ctx.cutoff))


async def test_hook_register_retention_policies(database_url: str, clock: ManualClock) -> None:
    """A plugin's policy runs first, with a period read from the settings; its counts are
    reported; a name registered twice stops start-up."""
    plugin = OrdersPolicy()
    taskra = make_test_taskra(database_url, plugins=[plugin], clock=clock)
    await taskra.startup()
    try:
        store_id = await make_store(taskra)

        def order(name: str, age: timedelta) -> Order:
            return Order(
                store_id=store_id, name=name, placed_at=NOW - age, created_at=NOW, updated_at=NOW
            )

        _old, kept = await add(taskra, order("#1001", 800 * DAY), order("#1002", 700 * DAY))

        report = await taskra.retention.run()

        assert taskra.retention.policies.names[0] == "test.orders"
        assert report.results[0].name == "test.orders"
        assert report.results[0].counts == {"orders": 1}
        assert plugin.cutoffs == [NOW - 730 * DAY]
        assert await ids(taskra, Order) == {kept}
        with pytest.raises(StartupError, match="registered twice"):
            taskra.retention.policies.register("messages", plugin.sweep, period=DAY)
        with pytest.raises(StartupError, match="not a valid name"):
            taskra.retention.policies.register("Bad Name", plugin.sweep, period=DAY)
        with pytest.raises(StartupError, match="no usable period"):
            taskra.retention.policies.register("test.bad", plugin.sweep, period=lambda s: -DAY)
    finally:
        await taskra.shutdown()


async def test_a_failing_policy_does_not_stop_the_others(
    database_url: str, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """One policy raising is reported and logged (without personal data) and the others
    still run."""
    taskra = make_test_taskra(database_url, plugins=[OrdersPolicy(fail=True)], clock=clock)
    await taskra.startup()
    try:
        store_id = await make_store(taskra)
        await receive(taskra, clock, store_id, OLD, "Hello")

        report = await taskra.retention.run()

        assert not report.ok
        failed = report.results[0]
        assert failed.name == "test.orders"
        assert failed.error is not None
        assert "RuntimeError" in failed.error
        assert "jo@example.com" not in failed.error
        assert "retention policy failed" in caplog.text
        assert "jo@example.com" not in caplog.text
        assert await ids(taskra, Message) == set()
    finally:
        await taskra.shutdown()


# --- the daily job -------------------------------------------------------------------------


async def _sweep_jobs(taskra: Taskra) -> list[JobRecord]:
    async with taskra.db.session() as session:
        query = select(JobRecord).where(col(JobRecord.kind) == SWEEP_JOB).order_by("id")
        return list(await session.scalars(query))


async def test_daily_sweep_is_queued_once_and_queues_the_next_day(
    database_url: str, clock: ManualClock
) -> None:
    """However many processes start, one sweep is pending, due at 03:00 UTC; when it runs it
    deletes expired data and leaves exactly one sweep pending, for the next day."""
    first = make_test_taskra(database_url, clock=clock, retention_schedule=True)
    second = make_test_taskra(database_url, clock=clock, retention_schedule=True)
    await first.startup()
    await second.startup()
    try:
        [pending] = await _sweep_jobs(first)
        due = datetime(2026, 6, 2, 3, 0, tzinfo=UTC)
        assert (pending.state, pending.run_after) == ("queued", due)
        store_id = await make_store(first)
        await receive(first, clock, store_id, OLD, "Where is my parcel?")

        set_time(clock, due + timedelta(minutes=1))
        await Worker(first).run_until_idle()

        assert await ids(first, Message) == set()
        ran, following = await _sweep_jobs(first)
        assert ran.state == "done"
        assert ran.payload["result"]["messages"] == 2  # the message and its conversation
        assert (following.state, following.run_after) == ("queued", due + DAY)
        third = make_test_taskra(database_url, clock=clock, retention_schedule=True)
        await third.startup()  # a process starting while a sweep is pending adds none
        await third.shutdown()
        assert len(await _sweep_jobs(first)) == 2
    finally:
        await first.shutdown()
        await second.shutdown()


async def test_a_failed_sweep_is_retried_and_the_schedule_goes_on(
    database_url: str, clock: ManualClock
) -> None:
    """A failing policy fails the job, which is retried with backoff until it is dead; the
    next day's sweep was queued first, so the schedule never ends."""
    taskra = make_test_taskra(
        database_url, plugins=[OrdersPolicy(fail=True)], clock=clock, retention_schedule=True
    )
    await taskra.startup()
    try:
        [pending] = await _sweep_jobs(taskra)
        set_time(clock, pending.run_after + timedelta(minutes=1))

        worker = Worker(taskra)
        for _ in range(taskra.settings.job_max_attempts):
            await worker.run_until_idle()
            clock.advance(60)  # past the retry's backoff, far from tomorrow's run

        failed, following = await _sweep_jobs(taskra)
        assert failed.state == "dead"
        assert failed.attempts == failed.max_attempts > 1
        assert failed.last_error is not None
        assert "RetentionSweepFailed" in failed.last_error
        assert (following.state, following.run_after) == ("queued", pending.run_after + DAY)
    finally:
        await taskra.shutdown()


# --- the command line ----------------------------------------------------------------------


async def test_retention_run_cli_dry_run_json_and_table(database_url: str) -> None:
    """`taskra retention run --dry-run --json` counts per policy and deletes nothing; the
    real run prints a table; an unknown policy exits 1 saying which are known."""
    clock = ManualClock(OLD)
    async with make_test_taskra(database_url, clock=clock) as core:
        store_id = await make_store(core)
        await receive(core, clock, store_id, OLD, "Hello there")
    env = {"TASKRA_DATABASE_URL": database_url, "TASKRA_NOW": NOW.isoformat()}

    dry = json.loads(run_cli("retention", "run", "--dry-run", "--json", **env).stdout)
    by_name = {policy["name"]: policy for policy in dry["policies"]}
    assert dry["dry_run"] is True
    assert by_name["messages"]["counts"] == {"messages": 1, "drafts": 0, "conversations": 1}
    assert by_name["billing_records"]["period_days"] == 2557

    table = run_cli("retention", "run", "--policy", "messages", **env).stdout
    assert "messages" in table
    assert "conversations=1" in table
    assert "2 rows deleted" in table
    async with make_test_taskra(database_url) as core:
        assert await ids(core, Message) == set()

    listed = json.loads(run_cli("retention", "policies", "--json", **env).stdout)
    names = [p["name"] for p in listed]  # installed plugins' policies come first
    assert names.index("messages") < names.index("customers") < names.index("accounts")
    unknown = run_cli("retention", "run", "--policy", "nope", check=False, **env)
    assert unknown.returncode == 1
    assert "No retention policy named 'nope'; known:" in unknown.stderr
    assert "messages, customers, accounts" in unknown.stderr
