"""The test helpers shipped with the core (taskra_core.testing)."""

from __future__ import annotations

from datetime import UTC, datetime

from taskra_core.clock import ManualClock
from taskra_core.testing import due_jobs, make_test_taskra


async def test_due_jobs_counts_running_jobs_and_those_due_within_the_horizon(
    database_url: str,
) -> None:
    """A queued job counts once it is due within the horizon, a running one always; a job
    scheduled for later does not until its time comes."""
    clock = ManualClock(datetime(2025, 3, 17, 10, 0, tzinfo=UTC))
    async with make_test_taskra(database_url, clock=clock) as taskra:
        assert await due_jobs(taskra) == 0
        async with taskra.db.transaction() as session:
            await taskra.jobs.enqueue(session, "test.now")
            await taskra.jobs.enqueue(session, "test.soon", delay=5)
            await taskra.jobs.enqueue(session, "test.later", delay=3600)
        assert await due_jobs(taskra) == 1
        assert await due_jobs(taskra, horizon=10) == 2
        assert len(await taskra.jobs.claim("tester", ["test.now"], 1)) == 1
        assert await due_jobs(taskra) == 1  # the running job
        clock.advance(3600)
        assert await due_jobs(taskra) == 3
