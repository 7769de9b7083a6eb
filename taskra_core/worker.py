"""The job worker: claims due jobs, runs their handlers, records the outcome.

Runs inside ``taskra serve`` (one process does everything) or alone as ``taskra worker`` (any
number of them, against PostgreSQL). On shutdown it stops claiming, lets running jobs finish
for a grace period, then cancels the rest and gives their leases back so nothing waits for a
lease to expire.

While a job runs, its lease is renewed every third of its length, so a long job (a catalogue
sync) is not taken over by another worker, or claimed again by this one, while it is still
running. A lease lapses only when its worker stops renewing it: it died, or it lost the
database. An attempt that runs past ``TASKRA_JOB_TIMEOUT_SECONDS`` is cancelled and retried,
so a handler that hangs cannot hold its job forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from taskra_core.errors import JobTimedOut, LeaseLost, UnknownJobKind
from taskra_core.jobs import Job, JobContext

if TYPE_CHECKING:
    from taskra_core.app import Taskra

log = logging.getLogger(__name__)


class Worker:
    """Runs jobs of every registered kind until :meth:`stop` is called."""

    def __init__(
        self,
        taskra: Taskra,
        *,
        concurrency: int | None = None,
        poll_seconds: float | None = None,
        worker_id: str | None = None,
        busy: Callable[[], bool] | None = None,
        yield_seconds: float | None = None,
    ) -> None:
        """``busy`` (the web app's "serving requests now") makes the worker hold back new
        jobs while it is true, for at most ``yield_seconds`` at a time: in one process, a
        burst of requests is answered first and its jobs run right after."""
        settings = taskra.settings
        self.taskra = taskra
        self.concurrency = concurrency or settings.worker_concurrency
        self.poll_seconds = poll_seconds or settings.worker_poll_seconds
        self.grace_seconds = settings.worker_shutdown_grace_seconds
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._running: dict[asyncio.Task[None], Job] = {}
        self._stopping = asyncio.Event()
        self._busy = busy
        self.yield_seconds = (
            settings.worker_yield_seconds if yield_seconds is None else yield_seconds
        )
        self._last_claim = time.monotonic()

    def stop(self) -> None:
        """Ask the worker to finish; :meth:`run` returns once running jobs are settled."""
        self._stopping.set()
        self.taskra.jobs.wakeup.set()

    async def run(self) -> None:
        log.info("worker started", extra={"worker": self.worker_id, "kinds": self._kinds()})
        try:
            while not self._stopping.is_set():
                if len(self._running) >= self.concurrency:
                    await asyncio.wait(set(self._running), return_when=asyncio.FIRST_COMPLETED)
                elif self._yielding():
                    await asyncio.sleep(0.02)
                elif await self._claim_and_start() == 0:
                    await self._idle()
        finally:
            await self._drain()
            log.info("worker stopped", extra={"worker": self.worker_id})

    async def run_until_idle(self, *, max_rounds: int = 10_000) -> int:
        """Run due jobs until none are left; return how many attempts ran (tests, ``--burst``)."""
        ran = 0
        for _ in range(max_rounds):
            claimed = 0
            if len(self._running) < self.concurrency:
                claimed = await self._claim_and_start()
            if claimed == 0 and not self._running:
                break
            ran += claimed
            if self._running:
                await asyncio.wait(set(self._running), return_when=asyncio.FIRST_COMPLETED)
        return ran

    # --- internals -----------------------------------------------------------------------

    def _kinds(self) -> tuple[str, ...]:
        return self.taskra.job_handlers.kinds

    def _yielding(self) -> bool:
        """Hold back while the web app is busy, but never longer than ``yield_seconds``."""
        if self._busy is None or not self.yield_seconds or not self._busy():
            return False
        return time.monotonic() - self._last_claim < self.yield_seconds

    async def _idle(self) -> None:
        wakeup = self.taskra.jobs.wakeup
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wakeup.wait(), timeout=self.poll_seconds)
        wakeup.clear()

    async def _claim_and_start(self) -> int:
        self._last_claim = time.monotonic()
        free = self.concurrency - len(self._running)
        registry = self.taskra.job_handlers
        leases = {
            kind: spec.lease_seconds
            for kind in registry.kinds
            if (spec := registry.get(kind)) is not None and spec.lease_seconds is not None
        }
        try:
            jobs = await self.taskra.jobs.claim(self.worker_id, registry.kinds, free, leases)
        except Exception:
            # The database may be briefly unreachable; keep the worker alive and try again.
            log.exception("claiming jobs failed", extra={"worker": self.worker_id})
            return 0
        for job in jobs:
            task = asyncio.create_task(self._run_one(job), name=f"job-{job.id}-{job.kind}")
            self._running[task] = job
            task.add_done_callback(self._running.pop)
        return len(jobs)

    async def _run_one(self, job: Job) -> None:
        taskra = self.taskra
        spec = taskra.job_handlers.get(job.kind)
        try:
            if spec is None:
                raise UnknownJobKind(f"No handler for job kind {job.kind!r}.")
            if job.attempts > job.max_attempts:
                # Only reachable when workers kept dying mid-job: leases expired repeatedly.
                await taskra.jobs.fail(job, "lease expired on the last attempt", 0)
                return
            lease = spec.lease_seconds or taskra.settings.job_lease_seconds
            timeout = taskra.settings.job_timeout_seconds
            async with self._lease_kept(job, lease):
                try:
                    async with asyncio.timeout(timeout), taskra.db.transaction() as session:
                        await spec.handler(JobContext(taskra=taskra, job=job, session=session))
                        await taskra.jobs.complete(session, job)
                except TimeoutError as exc:
                    raise JobTimedOut(
                        f"The attempt ran longer than {timeout:g} s "
                        "(TASKRA_JOB_TIMEOUT_SECONDS) and was cancelled."
                    ) from exc
            log.debug("job done", extra={"job_id": job.id, "kind": job.kind})
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(taskra.jobs.release(job))
            raise
        except LeaseLost:
            log.warning("job lease lost", extra={"job_id": job.id, "kind": job.kind})
        except Exception as exc:
            try:
                delay = await taskra.hooks.job_retry_delay(taskra, job, exc)
                state = await taskra.jobs.fail(job, exc, delay)
            except Exception:
                log.exception("recording a job failure failed", extra={"job_id": job.id})
                return
            log.warning(
                "job failed",
                extra={
                    "job_id": job.id,
                    "kind": job.kind,
                    "attempt": job.attempts,
                    "state": state,
                    "error": type(exc).__name__,
                },
            )

    @contextlib.asynccontextmanager
    async def _lease_kept(self, job: Job, seconds: float) -> AsyncIterator[None]:
        """Renew ``job``'s lease every third of ``seconds`` while the block runs."""
        renewing = asyncio.create_task(self._renew(job, seconds), name=f"lease-{job.id}")
        try:
            yield
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing

    async def _renew(self, job: Job, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds / 3)
            try:
                if not await self.taskra.jobs.renew(job, seconds):
                    return  # finished meanwhile, or taken over: its commit will say so
            except Exception:
                # The database may be briefly unreachable (or, on SQLite, held by the job's
                # own long write): the lease still has two thirds to run; try again.
                log.warning("renewing a job lease failed", extra={"job_id": job.id}, exc_info=True)

    async def _drain(self) -> None:
        if not self._running:
            return
        _done, pending = await asyncio.wait(set(self._running), timeout=self.grace_seconds)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
