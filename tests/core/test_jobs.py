"""The durable job queue and worker: transactions, idempotency, retries, leases, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from taskra_core.app import Taskra
from taskra_core.clock import ManualClock
from taskra_core.errors import InvalidInput, JobTimedOut, LeaseLost, StartupError
from taskra_core.hookspecs import hookimpl
from taskra_core.jobs import JobContext
from taskra_core.models import JobRecord, Usage
from taskra_core.testing import make_test_taskra
from taskra_core.worker import Worker

START = datetime(2025, 3, 17, 10, 0, tzinfo=UTC)


class Handlers:
    """A plugin registering job kinds whose behaviour each test scripts."""

    __name__ = "test-handlers"

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.fail_times: dict[str, int] = {}
        self.block = asyncio.Event()

    @hookimpl
    def register_jobs(self, register: Any) -> None:
        register("count", self.count)
        register("flaky", self.flaky, max_attempts=3)
        register("slow", self.slow)
        register("long", self.slow, lease_seconds=0.6)

    async def count(self, ctx: JobContext) -> None:
        """Writes one Usage row per run through the job's own session."""
        self.calls.append((ctx.job.kind, ctx.job.id))
        ctx.session.add(
            Usage(store_id=1, period=f"job-{ctx.job.id}-{len(self.calls)}", updated_at=START)
        )

    async def flaky(self, ctx: JobContext) -> None:
        self.calls.append((ctx.job.kind, ctx.job.id))
        remaining = self.fail_times.get("flaky", 0)
        if remaining:
            self.fail_times["flaky"] = remaining - 1
            raise RuntimeError("upstream said no to jo@example.com")

    async def slow(self, ctx: JobContext) -> None:
        self.calls.append((ctx.job.kind, ctx.job.id))
        await self.block.wait()


@pytest.fixture
def handlers() -> Handlers:
    return Handlers()


@pytest.fixture
async def core(database_url: str, handlers: Handlers) -> AsyncIterator[Taskra]:
    taskra = make_test_taskra(database_url, plugins=[handlers], clock=ManualClock(START))
    await taskra.startup()
    # Usage rows need a store; a job's writes are otherwise unconstrained.
    from taskra_core.models import Store

    async with taskra.db.transaction() as session:
        session.add(Store(id=1, domain="t.myshopify.com", created_at=START, updated_at=START))
    try:
        yield taskra
    finally:
        await taskra.shutdown()


async def _enqueue(taskra: Taskra, kind: str, **kwargs: Any) -> int:
    async with taskra.db.transaction() as session:
        return await taskra.jobs.enqueue(session, kind, {"n": 1}, **kwargs)


async def _job(taskra: Taskra, job_id: int) -> JobRecord:
    async with taskra.db.session() as session:
        job = await session.get(JobRecord, job_id)
        assert job is not None
        return job


async def _usage_rows(taskra: Taskra) -> int:
    async with taskra.db.session() as session:
        return int((await session.execute(select(func.count()).select_from(Usage))).scalar_one())


async def test_enqueue_is_part_of_the_callers_transaction(core: Taskra) -> None:
    """A job enqueued in a transaction that rolls back never exists."""
    with pytest.raises(RuntimeError):
        async with core.db.transaction() as session:
            await core.jobs.enqueue(session, "count", {})
            raise RuntimeError("caller failed")
    assert (await core.jobs.counts())["queued"] == 0
    await _enqueue(core, "count")
    assert (await core.jobs.counts())["queued"] == 1


async def test_idempotency_key_returns_the_existing_job(core: Taskra) -> None:
    """Enqueueing twice with one idempotency key stores one job and returns its id twice."""
    first = await _enqueue(core, "count", idempotency_key="webhook:abc")
    second = await _enqueue(core, "count", idempotency_key="webhook:abc")
    assert first == second
    assert (await core.jobs.counts())["queued"] == 1


async def test_enqueue_many_returns_ids_in_order_and_reuses_taken_keys(core: Taskra) -> None:
    """A batch returns one id per job, in order; a key already taken (before or within the
    batch) gives the existing job's id; a rolled-back batch leaves nothing."""
    existing = await _enqueue(core, "count", idempotency_key="k:a")
    async with core.db.transaction() as session:
        ids = await core.jobs.enqueue_many(
            session, "count", [({"n": 1}, 1, "k:a"), ({"n": 2}, 1, "k:b"), ({"n": 3}, None, "k:b")]
        )
    assert ids[0] == existing
    assert ids[1] == ids[2] != existing
    assert (await _job(core, ids[1])).payload == {"n": 2}
    assert (await core.jobs.counts())["queued"] == 2
    with pytest.raises(RuntimeError):
        async with core.db.transaction() as session:
            await core.jobs.enqueue_many(session, "count", [({}, None, "k:c")], return_ids=False)
            raise RuntimeError("caller failed")
    assert (await core.jobs.counts())["queued"] == 2


async def test_payload_must_be_json(core: Taskra) -> None:
    """A payload that cannot be stored as JSON is refused and nothing is enqueued."""
    with pytest.raises(InvalidInput, match="JSON"):
        async with core.db.transaction() as session:
            await core.jobs.enqueue(session, "count", {"when": object()})
    assert (await core.jobs.counts())["queued"] == 0


async def test_handler_writes_commit_with_the_done_state(core: Taskra, handlers: Handlers) -> None:
    """A successful job is done and its database writes are there, once."""
    job_id = await _enqueue(core, "count")
    assert await Worker(core).run_until_idle() == 1
    job = await _job(core, job_id)
    assert (job.state, job.attempts, job.finished_at) == ("done", 1, START)
    assert await _usage_rows(core) == 1
    assert await Worker(core).run_until_idle() == 0  # done jobs never run again


async def test_failures_retry_with_backoff_then_succeed(core: Taskra, handlers: Handlers) -> None:
    """A failing job is requeued with a later run_after and the error kept, masked."""
    handlers.fail_times["flaky"] = 2
    job_id = await _enqueue(core, "flaky")
    worker = Worker(core)
    await worker.run_until_idle()
    job = await _job(core, job_id)
    assert job.state == "queued"
    assert job.attempts == 1
    assert job.run_after > START
    assert job.last_error == "RuntimeError: upstream said no to j***@e***.com"
    # Not due yet: the worker leaves it alone until the clock passes run_after.
    assert await worker.run_until_idle() == 0
    assert isinstance(core.clock, ManualClock)
    core.clock.advance(60)
    await worker.run_until_idle()
    core.clock.advance(60)
    await worker.run_until_idle()
    job = await _job(core, job_id)
    assert (job.state, job.attempts) == ("done", 3)


async def test_dead_after_max_attempts_then_retry(core: Taskra, handlers: Handlers) -> None:
    """After max_attempts failures a job is dead with its last error; retry requeues it."""
    handlers.fail_times["flaky"] = 3
    job_id = await _enqueue(core, "flaky", max_attempts=3)
    assert isinstance(core.clock, ManualClock)
    for _ in range(3):
        await Worker(core).run_until_idle()
        core.clock.advance(60)
    job = await _job(core, job_id)
    assert (job.state, job.attempts) == ("dead", 3)
    assert job.last_error is not None
    assert "RuntimeError" in job.last_error
    assert [j.id for j in await core.jobs.list(state="dead")] == [job_id]

    assert await core.jobs.retry([job_id]) == 1
    await Worker(core).run_until_idle()
    job = await _job(core, job_id)
    assert (job.state, job.attempts) == ("done", 1)


async def test_retry_needs_ids_or_all_dead(core: Taskra) -> None:
    """Retrying with nothing named is a clear error, not a silent no-op."""
    with pytest.raises(InvalidInput, match="--all-dead"):
        await core.jobs.retry()


async def test_expired_lease_is_claimed_again_and_the_old_run_cannot_commit(
    core: Taskra, handlers: Handlers
) -> None:
    """A crashed worker's job runs again; the stale worker's writes roll back (LeaseLost)."""
    job_id = await _enqueue(core, "count")
    [stale] = await core.jobs.claim("worker-a", ["count"], 1)
    assert isinstance(core.clock, ManualClock)
    core.clock.advance(core.settings.job_lease_seconds + 1)
    [fresh] = await core.jobs.claim("worker-b", ["count"], 1)
    assert fresh.id == stale.id == job_id
    assert fresh.attempts == 2

    with pytest.raises(LeaseLost):
        async with core.db.transaction() as session:
            session.add(Usage(store_id=1, period="stale", updated_at=START))
            await core.jobs.complete(session, stale)
    assert await _usage_rows(core) == 0

    async with core.db.transaction() as session:
        await core.jobs.complete(session, fresh)
    assert (await _job(core, job_id)).state == "done"


async def test_unknown_kinds_wait_for_a_worker_that_knows_them(core: Taskra) -> None:
    """Jobs of a kind no plugin handles stay queued instead of failing."""
    job_id = await _enqueue(core, "someone-elses-kind")
    assert await Worker(core).run_until_idle() == 0
    assert (await _job(core, job_id)).state == "queued"


async def test_graceful_shutdown_releases_unfinished_jobs(core: Taskra, handlers: Handlers) -> None:
    """Stopping a worker gives back jobs that outlive the grace period, attempt not counted."""
    job_id = await _enqueue(core, "slow")
    worker = Worker(core)
    worker.grace_seconds = 0.05
    run = asyncio.create_task(worker.run())
    for _ in range(200):
        if handlers.calls:
            break
        await asyncio.sleep(0.01)
    assert handlers.calls == [("slow", job_id)]
    worker.stop()
    await asyncio.wait_for(run, timeout=5)
    job = await _job(core, job_id)
    assert (job.state, job.attempts, job.lease_token) == ("queued", 0, None)


async def test_graceful_shutdown_lets_quick_jobs_finish(core: Taskra, handlers: Handlers) -> None:
    """A job that finishes within the grace period completes normally."""
    job_id = await _enqueue(core, "slow")
    worker = Worker(core)
    run = asyncio.create_task(worker.run())
    for _ in range(200):
        if handlers.calls:
            break
        await asyncio.sleep(0.01)
    worker.stop()
    handlers.block.set()
    await asyncio.wait_for(run, timeout=5)
    assert (await _job(core, job_id)).state == "done"


async def test_hook_register_jobs(database_url: str) -> None:
    """register_jobs fills the registry; a kind registered twice stops start-up."""

    async def handler(ctx: JobContext) -> None:
        return None

    class A:
        __name__ = "a"

        @hookimpl
        async def register_jobs(self, register: Any) -> None:
            register("same", handler)

    class B:
        __name__ = "b"

        @hookimpl
        def register_jobs(self, register: Any) -> None:
            register("same", handler)

    single = make_test_taskra(database_url, plugins=[A()])
    await single.startup()
    assert "same" in single.job_handlers.kinds
    assert single.job_handlers.get("same") is not None
    await single.shutdown()

    double = make_test_taskra(database_url, plugins=[A(), B()])
    with pytest.raises(StartupError, match="registered twice"):
        await double.startup()
    await double.shutdown()


async def test_hook_job_retry_delay(database_url: str) -> None:
    """The first plugin with an opinion sets the delay; None passes; default backs off."""

    class Passes:
        __name__ = "passes"

        @hookimpl(tryfirst=True)
        async def job_retry_delay(self, job: Any) -> float | None:
            return None

    class Decides:
        __name__ = "decides"

        @hookimpl
        async def job_retry_delay(self, job: Any, error: BaseException) -> float | None:
            return 42.0 if isinstance(error, TimeoutError) else None

    taskra = make_test_taskra(
        database_url,
        plugins=[Passes(), Decides()],
        job_backoff_base_seconds=10,
        job_backoff_max_seconds=1000,
    )
    from taskra_core.jobs import Job

    job = Job(1, "k", {}, 3, 8, None, "t", START, None)
    assert await taskra.hooks.job_retry_delay(taskra, job, TimeoutError()) == 42.0
    # Falls through to the default: attempt 3 -> ceiling 40 s, equal jitter -> [20, 40].
    delays = {await taskra.hooks.job_retry_delay(taskra, job, ValueError()) for _ in range(20)}
    assert all(20 <= d <= 40 for d in delays)
    assert len(delays) > 1  # jittered
    await taskra.shutdown()


async def test_a_worker_holds_back_while_its_process_is_busy(
    core: Taskra, handlers: Handlers
) -> None:
    """Given a "busy" signal (the web app serving requests), the worker claims nothing while
    it holds; once the signal clears, the job runs."""
    busy = True
    job_id = await _enqueue(core, "count")
    worker = Worker(core, busy=lambda: busy, yield_seconds=60)
    run = asyncio.create_task(worker.run())
    try:
        for _ in range(20):  # many turns of the worker's loop
            await asyncio.sleep(0.02)
        assert handlers.calls == []
        assert (await _job(core, job_id)).state == "queued"
        busy = False
        for _ in range(500):
            if handlers.calls:
                break
            await asyncio.sleep(0.01)
        assert handlers.calls == [("count", job_id)]
    finally:
        worker.stop()
        await asyncio.wait_for(run, timeout=5)


async def test_a_busy_process_still_runs_its_jobs_after_the_yield_time(
    core: Taskra, handlers: Handlers
) -> None:
    """Under traffic that never stops, the worker still claims jobs once per yield period,
    so nothing starves."""
    job_ids = [await _enqueue(core, "count") for _ in range(3)]
    worker = Worker(core, busy=lambda: True, yield_seconds=0.05)
    run = asyncio.create_task(worker.run())
    try:
        for _ in range(500):
            if len(handlers.calls) == 3:
                break
            await asyncio.sleep(0.01)
        assert sorted(job_id for _, job_id in handlers.calls) == sorted(job_ids)
    finally:
        worker.stop()
        await asyncio.wait_for(run, timeout=5)


async def _started(handlers: Handlers) -> None:
    for _ in range(500):
        if handlers.calls:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the job never started")


async def _lease_until(taskra: Taskra, job_id: int) -> datetime:
    until = (await _job(taskra, job_id)).lease_until
    assert until is not None
    return until


async def test_a_running_job_keeps_its_lease_past_its_length(
    core: Taskra, handlers: Handlers
) -> None:
    """A job that runs longer than its lease is not claimed again while its worker lives:
    the worker renews the lease (every third of it). Each step moves the clock most of a
    lease ahead, waits to see the renewal, and checks that no other worker can claim it;
    after 2.5 leases the job finishes, once, on its first attempt."""
    job_id = await _enqueue(core, "long")
    worker = Worker(core)
    run = asyncio.create_task(worker.run())
    await _started(handlers)
    assert isinstance(core.clock, ManualClock)
    for _ in range(3):
        before = await _lease_until(core, job_id)
        core.clock.advance(0.5)
        for _ in range(500):
            if await _lease_until(core, job_id) > before:
                break
            await asyncio.sleep(0.01)
        assert await _lease_until(core, job_id) > core.clock.now()
        assert await core.jobs.claim("worker-b", ["long"], 1) == []
    handlers.block.set()
    worker.stop()
    await asyncio.wait_for(run, timeout=5)
    job = await _job(core, job_id)
    assert (job.state, job.attempts) == ("done", 1)
    assert handlers.calls == [("long", job_id)]


async def test_an_attempt_that_hangs_is_cancelled_and_retried(database_url: str) -> None:
    """An attempt running past TASKRA_JOB_TIMEOUT_SECONDS is cancelled, its writes roll
    back, and the job is queued again with the reason (renewal alone would let a hung
    handler hold its job forever)."""
    handlers = Handlers()
    taskra = make_test_taskra(
        database_url, plugins=[handlers], clock=ManualClock(START), job_timeout_seconds=0.2
    )
    await taskra.startup()
    try:
        job_id = await _enqueue(taskra, "slow")
        assert await Worker(taskra).run_until_idle() == 1
        job = await _job(taskra, job_id)
        assert (job.state, job.attempts, job.lease_token) == ("queued", 1, None)
        assert job.last_error is not None
        assert job.last_error.startswith(JobTimedOut.__name__)
        assert "TASKRA_JOB_TIMEOUT_SECONDS" in job.last_error
    finally:
        await taskra.shutdown()
