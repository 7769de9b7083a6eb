"""The store sync's durable jobs, and where they record progress (see :mod:`.sync`).

- ``shopify.sync``: the full sync (queued at install; ``taskra store sync`` runs the same
  sync in-process). A bulk operation is left to the two jobs below.
- ``shopify.sync.poll``: checks on a bulk operation every ``TASKRA_SHOPIFY_BULK_POLL_SECONDS``.
- ``shopify.sync.apply``: applies a finished catalog bulk operation; the poll job and the
  ``bulk_operations/finish`` webhook enqueue it under one idempotency key, so it runs once.
- ``shopify.policies``: the periodic refresh of profile and policies, re-queued with a
  delay of ``TASKRA_SHOPIFY_POLICY_REFRESH_HOURS`` each time it runs (and after each sync).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from taskra_core.errors import InvalidInput, NotFound, ShopifyAuthError
from taskra_core.models import JobRecord, Store
from taskra_shopify import bulk
from taskra_shopify.catalog import _parse_time, fetch_shop
from taskra_shopify.sync import (
    APPLY_JOB,
    POLICIES_JOB,
    POLL_JOB,
    SYNC_JOB,
    SyncReport,
    completed,
    installed_store,
    sync_store,
    write_catalog,
    write_shop,
)

if TYPE_CHECKING:
    from taskra_core.app import Taskra
    from taskra_core.jobs import Job, JobContext

log = logging.getLogger(__name__)

PROGRESS_EVERY_SECONDS = 1.0
_JOBS: Table = JobRecord.__table__  # type: ignore[attr-defined]


# --- jobs ------------------------------------------------------------------------------------


async def sync_job(ctx: JobContext) -> None:
    """``shopify.sync``: the full sync (install, ``taskra store sync`` can also enqueue it)."""
    store = await _job_store(ctx)
    if store is None:
        return
    recorder = _Recorder(ctx.taskra, ctx.job)

    async def defer(operation_id: str) -> None:
        await _enqueue_poll(ctx, store, operation_id, 1)

    policies_only = bool(ctx.job.payload.get("policies_only"))
    report = await sync_store(
        ctx.taskra,
        store,
        ctx.session,
        progress=recorder,
        policies_only=policies_only,
        defer_bulk=defer,
    )
    await schedule_policies(ctx.taskra, ctx.session, store)
    await _finish(ctx, report.as_dict())


async def policies_job(ctx: JobContext) -> None:
    """``shopify.policies``: refresh profile and policies, then schedule the next refresh."""
    store = await _job_store(ctx)
    if store is None:
        return  # uninstalled: the schedule ends here; the next install starts it again
    profile = await fetch_shop(ctx.taskra, store)
    await write_shop(ctx.taskra, ctx.session, store, profile)
    await schedule_policies(ctx.taskra, ctx.session, store)
    await _finish(ctx, {"shop": store.domain, "policies": len(profile.policies)})


async def poll_job(ctx: JobContext) -> None:
    """``shopify.sync.poll``: check on a bulk operation; apply it when done, else look again."""
    store = await _job_store(ctx)
    if store is None:
        return
    operation_id = str(ctx.job.payload.get("operation_id") or "")
    operation = await bulk.status(ctx.taskra, store, operation_id)
    if operation.get("status") in bulk.RUNNING:
        polls = int(ctx.job.payload.get("poll") or 1) + 1
        await _enqueue_poll(ctx, store, operation_id, polls)
        await _finish(ctx, {"status": operation.get("status")})
        return
    await enqueue_apply(ctx, store, operation_id)
    await _finish(ctx, {"status": operation.get("status")})


async def apply_job(ctx: JobContext) -> None:
    """``shopify.sync.apply``: apply a finished catalog bulk operation (once per operation)."""
    store = await _job_store(ctx)
    if store is None:
        return
    operation = await bulk.status(ctx.taskra, store, str(ctx.job.payload.get("operation_id")))
    if not bulk.is_catalog(operation):
        log.info("bulk operation is not a catalog sync", extra={"shop": store.domain})
        await _finish(ctx, {"skipped": "not a catalog bulk operation"})
        return
    operation = completed(store, operation)
    recorder = _Recorder(ctx.taskra, ctx.job)
    documents = await bulk.download(operation, lambda n: recorder("download", n, None))
    started = _parse_time(operation.get("createdAt")) or ctx.taskra.clock.now()
    added, updated, removed = await write_catalog(
        ctx.taskra, ctx.session, store, documents, started
    )
    result = SyncReport(store.domain, "bulk", len(documents), 0, added, updated, removed)
    await _finish(ctx, result.as_dict())


async def enqueue_apply(ctx: JobContext, store: Store, operation_id: str) -> int:
    """The apply job of ``operation_id``; the poll job and the webhook share its key."""
    return await ctx.taskra.jobs.enqueue(
        ctx.session,
        APPLY_JOB,
        {"shop": store.domain, "operation_id": operation_id},
        store_id=store.id,
        idempotency_key=f"{APPLY_JOB}:{store.id}:{operation_id}",
    )


async def _enqueue_poll(ctx: JobContext, store: Store, operation_id: str, poll: int) -> None:
    await ctx.taskra.jobs.enqueue(
        ctx.session,
        POLL_JOB,
        {"shop": store.domain, "operation_id": operation_id, "poll": poll},
        store_id=store.id,
        idempotency_key=f"{POLL_JOB}:{store.id}:{operation_id}:{poll}",
        delay=ctx.taskra.settings.shopify_bulk_poll_seconds,
    )


async def schedule_policies(taskra: Taskra, session: AsyncSession, store: Store) -> None:
    """Queue the next policy refresh, one per ``TASKRA_SHOPIFY_POLICY_REFRESH_HOURS`` slot:
    a sync and the running schedule landing in the same slot queue it once."""
    every = timedelta(hours=taskra.settings.shopify_policy_refresh_hours)
    due = taskra.clock.now() + every
    slot = int(due.timestamp() // every.total_seconds())
    await taskra.jobs.enqueue(
        session,
        POLICIES_JOB,
        {"shop": store.domain, "reason": "schedule"},
        store_id=store.id,
        idempotency_key=f"{POLICIES_JOB}:{store.id}:{slot}",
        delay=every.total_seconds(),
    )


async def _job_store(ctx: JobContext) -> Store | None:
    """The job's store, or None (job done, reason recorded) if it cannot be synced now."""
    try:
        if ctx.job.store_id is None:
            raise InvalidInput(f"Job {ctx.job.id} ({ctx.job.kind}) names no store.")
        return await installed_store(ctx.taskra, store_id=ctx.job.store_id)
    except (NotFound, ShopifyAuthError, InvalidInput) as exc:
        # Retrying cannot help: re-installing queues a new sync.
        log.warning("shopify sync skipped", extra={"job_id": ctx.job.id, "error": str(exc)})
        await _finish(ctx, {"skipped": str(exc)})
        return None


async def _finish(ctx: JobContext, result: dict[str, Any]) -> None:
    payload = dict(ctx.job.payload) | {"result": result}
    payload.pop("progress", None)
    await ctx.session.execute(update(_JOBS).where(_JOBS.c.id == ctx.job.id).values(payload=payload))


class _Recorder:
    """Writes a running job's progress into its payload, at most once a second per phase.

    Each write is its own short transaction, fenced on the lease, and happens only while
    the job reads from Shopify (it has written nothing through its own session yet).
    """

    def __init__(self, taskra: Taskra, job: Job) -> None:
        self.taskra, self.job = taskra, job
        self._last: tuple[str, float] = ("", 0.0)
        self._pending: list[asyncio.Task[None]] = []

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        now = self.taskra.clock.now().timestamp()
        if phase == self._last[0] and now - self._last[1] < PROGRESS_EVERY_SECONDS:
            return
        if phase == "writing":
            return  # the job's own transaction writes from here on
        self._last = (phase, now)
        progress = {"phase": phase, "done": done, "total": total}
        self._pending.append(asyncio.ensure_future(self._save(progress)))

    async def _save(self, progress: dict[str, Any]) -> None:
        payload = dict(self.job.payload) | {"progress": progress}
        try:
            async with self.taskra.db.transaction() as session:
                await session.execute(
                    update(_JOBS)
                    .where(_JOBS.c.id == self.job.id, _JOBS.c.lease_token == self.job.lease_token)
                    .values(payload=payload)
                )
        except Exception:
            log.debug("recording sync progress failed", exc_info=True)


async def latest_sync(taskra: Taskra, store_id: int) -> dict[str, Any] | None:
    """The newest ``shopify.sync`` job of the store: state, progress or result, times."""
    async with taskra.db.session() as session:
        row = (
            await session.execute(
                select(_JOBS)
                .where(_JOBS.c.store_id == store_id, _JOBS.c.kind == SYNC_JOB)
                .order_by(_JOBS.c.id.desc())
                .limit(1)
            )
        ).first()
    if row is None:
        return None
    payload = dict(row.payload or {})
    return {
        "job_id": row.id,
        "state": row.state,
        "progress": payload.get("progress"),
        "result": payload.get("result"),
        "last_error": row.last_error,
        "finished_at": row.finished_at,
    }
