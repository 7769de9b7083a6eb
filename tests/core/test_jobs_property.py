"""Property: with random handler failures and two workers racing, every job's effect happens
exactly once and no job is lost. Runs on whichever database the suite targets (CI: both)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, String, Table, delete, func, select

from taskra_core.app import Taskra
from taskra_core.hookspecs import hookimpl
from taskra_core.jobs import JobContext
from taskra_core.models import JobRecord
from taskra_core.testing import make_test_taskra
from taskra_core.worker import Worker

# A table private to this test: one row per effect a handler managed to commit.
effects_md = MetaData()
effects = Table(
    "test_job_effects",
    effects_md,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, nullable=False),
    Column("worker", String(64), nullable=False),
)


class Chaos:
    """Writes an effect, then fails at random: before the write, after it, or not at all."""

    __name__ = "chaos"

    def __init__(self, seed: int, failure_rate: float) -> None:
        self.rng = random.Random(seed)
        self.failure_rate = failure_rate

    @hookimpl
    def register_jobs(self, register: Any) -> None:
        register("effect", self.handle, max_attempts=50)

    async def handle(self, ctx: JobContext) -> None:
        if self.rng.random() < self.failure_rate / 2:
            raise RuntimeError("failed before the effect")
        await ctx.session.execute(
            effects.insert().values(job_id=ctx.job.id, worker=str(id(ctx.taskra)))
        )
        await asyncio.sleep(self.rng.random() / 500)  # let the other worker interleave
        if self.rng.random() < self.failure_rate / 2:
            raise RuntimeError("failed after the effect: it must roll back")


async def _scenario(database_url: str, n_jobs: int, failure_rate: float, seed: int) -> None:
    cores: list[Taskra] = [
        make_test_taskra(
            database_url,
            plugins=[Chaos(seed + i, failure_rate)],
            job_backoff_base_seconds=0.001,
            job_backoff_max_seconds=0.005,
            worker_concurrency=3,
        )
        for i in range(2)
    ]
    for core in cores:
        await core.startup()
    try:
        async with cores[0].db.engine.begin() as conn:
            await conn.run_sync(effects_md.create_all)
            await conn.execute(delete(effects))
            await conn.execute(delete(JobRecord.__table__))  # type: ignore[attr-defined]
        async with cores[0].db.transaction() as session:
            ids = [await cores[0].jobs.enqueue(session, "effect", {"i": i}) for i in range(n_jobs)]

        workers = [Worker(core, worker_id=f"w{i}") for i, core in enumerate(cores)]
        runs = [asyncio.create_task(worker.run()) for worker in workers]
        for _ in range(2000):
            counts = await cores[0].jobs.counts()
            if counts["queued"] == counts["running"] == 0:
                break
            await asyncio.sleep(0.01)
        for worker in workers:
            worker.stop()
        await asyncio.gather(*runs)

        async with cores[0].db.session() as session:
            per_job = dict(
                (
                    await session.execute(
                        select(effects.c.job_id, func.count()).group_by(effects.c.job_id)
                    )
                ).all()
            )
            states = dict(
                (await session.execute(select(JobRecord.id, JobRecord.state))).all()  # type: ignore[call-overload]
            )
        assert set(states) == set(ids), "a job was lost or invented"
        for job_id in ids:
            if states[job_id] == "done":
                assert per_job.get(job_id) == 1, f"job {job_id}: {per_job.get(job_id)} effects"
            else:
                assert states[job_id] == "dead"
                assert job_id not in per_job
    finally:
        for core in cores:
            await core.shutdown()


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    n_jobs=st.integers(min_value=1, max_value=40),
    failure_rate=st.sampled_from([0.0, 0.2, 0.5]),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_every_effect_happens_exactly_once(
    database_url: str, n_jobs: int, failure_rate: float, seed: int
) -> None:
    """Two workers, random failures before and after writes: done jobs have one effect each,
    no job disappears, and nothing a failed attempt wrote survives."""
    asyncio.run(_scenario(database_url, n_jobs, failure_rate, seed))
