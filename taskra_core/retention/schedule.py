"""The daily sweep: a durable ``retention.sweep`` job that queues the next day's run.

Each run is due at :data:`SWEEP_HOUR_UTC` and carries the idempotency key of its day, so
however many processes start (each calls :func:`ensure_scheduled`) and however often a run
is retried, one sweep is pending per day. The next day's run is queued before the sweep
starts, in its own transaction, so a failing sweep (retried with backoff) never ends the
schedule.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from taskra_core.errors import RetentionSweepFailed
from taskra_core.models import JobRecord

if TYPE_CHECKING:
    from taskra_core.app import Taskra
    from taskra_core.jobs import JobContext

log = logging.getLogger(__name__)

SWEEP_JOB = "retention.sweep"
# A quiet hour for most stores' inboxes (UTC).
SWEEP_HOUR_UTC = 3
# A first sweep of a large backlog can take minutes; no other worker may start it meanwhile.
SWEEP_LEASE_SECONDS = 3600.0
_JOBS: Table = JobRecord.__table__  # type: ignore[attr-defined]


def next_sweep_at(now: datetime) -> datetime:
    """The next :data:`SWEEP_HOUR_UTC` strictly after ``now``."""
    due = now.replace(hour=SWEEP_HOUR_UTC, minute=0, second=0, microsecond=0)
    return due if due > now else due + timedelta(days=1)


async def schedule_next_sweep(taskra: Taskra, session: AsyncSession) -> int:
    """Queue the next daily sweep in ``session``'s transaction (once per day: keyed)."""
    now = taskra.clock.now()
    due = next_sweep_at(now)
    return await taskra.jobs.enqueue(
        session,
        SWEEP_JOB,
        {"due": due.isoformat()},
        idempotency_key=f"{SWEEP_JOB}:{due.date().isoformat()}",
        delay=(due - now).total_seconds(),
    )


async def ensure_scheduled(taskra: Taskra) -> None:
    """Queue the next daily sweep unless one is already queued or running (start-up)."""
    async with taskra.db.transaction() as session:
        pending = await session.scalar(
            select(_JOBS.c.id)
            .where(_JOBS.c.kind == SWEEP_JOB, _JOBS.c.state.in_(("queued", "running")))
            .limit(1)
        )
        if pending is None:
            await schedule_next_sweep(taskra, session)


async def sweep_job(ctx: JobContext) -> None:
    """``retention.sweep``: queue tomorrow's run, then run every policy."""
    taskra = ctx.taskra
    async with taskra.db.transaction() as session:
        await schedule_next_sweep(taskra, session)
    report = await taskra.retention.run()
    summary: dict[str, Any] = {r.name: r.total for r in report.results}
    payload = dict(ctx.job.payload) | {"result": summary}
    await ctx.session.execute(update(_JOBS).where(_JOBS.c.id == ctx.job.id).values(payload=payload))
    if not report.ok:
        failed = [r.name for r in report.results if r.error is not None]
        raise RetentionSweepFailed(f"Retention policies failed: {', '.join(failed)}.")
