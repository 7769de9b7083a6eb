"""Durable jobs: a table in the application database, on SQLite and PostgreSQL alike.

State machine::

    queued ──claim──▶ running ──handler ok──▶ done
      ▲                  │
      │   attempts left  │ handler raised, or lease expired (worker crashed)
      └──────────────────┤
                         └── no attempts left ──▶ dead   (``taskra jobs retry`` requeues)

- **Enqueue inside the caller's transaction**: a job exists if and only if the work that asked
  for it committed. An ``idempotency_key`` makes a second enqueue return the first job.
- **Leases**: a claim reserves a job until ``lease_until`` under a fresh ``lease_token``. The
  worker renews the lease while the job runs; if the worker dies, the lease runs out and
  another worker claims the job again.
- **Exactly-once effects**: a handler's database writes go through ``ctx.session`` and commit
  in the same transaction that marks the job done, fenced on the lease token. A worker that
  lost its lease cannot commit, so its writes roll back. Side effects outside the database
  must carry an idempotency key (the job id is a good one).
- Claims use one ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING``
  statement; SQLite ignores the locking clause and serializes writers instead.
"""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, event, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from taskra_core.bulk import BulkInsert
from taskra_core.clock import Clock
from taskra_core.db import Database
from taskra_core.errors import InvalidInput, LeaseLost, StartupError
from taskra_core.logs import mask_text
from taskra_core.models import JobRecord
from taskra_core.registry import Registry

if TYPE_CHECKING:
    from taskra_core.app import Taskra
    from taskra_core.settings import Settings

JOB_STATES = ("queued", "running", "done", "dead")
MAX_ERROR_CHARS = 2000
T = JobRecord.__table__  # type: ignore[attr-defined]
# A new job's columns, in the order of JobQueue._rows.
NEW_JOB_COLUMNS = (
    "kind",
    "payload",
    "store_id",
    "idempotency_key",
    "state",
    "attempts",
    "max_attempts",
    "run_after",
    "created_at",
    "updated_at",
)
_BULK_INSERT = BulkInsert(T, NEW_JOB_COLUMNS, conflict_target=["idempotency_key"])
_BY_KEY = select(T.c.id).where(T.c.idempotency_key == bindparam("key"))
# Only the holder of a running job's lease may change it: a worker whose lease expired and
# was taken over changes nothing (see LeaseLost).
_FENCE = and_(
    T.c.id == bindparam("job_id"), T.c.lease_token == bindparam("token"), T.c.state == "running"
)
_FENCED = update(T).where(_FENCE)
# Due jobs of the worker's kinds: queued and due, or running on a lease that lapsed. Built
# once: building it for every claim took a third of the time a worker spent on a job that
# does nothing, and a worker claims again each time one of its jobs ends.
_DUE = (
    select(T.c.id)
    .where(
        T.c.kind.in_(bindparam("kinds", expanding=True)),
        or_(
            and_(T.c.state == "queued", T.c.run_after <= bindparam("now")),
            and_(T.c.state == "running", T.c.lease_until < bindparam("now")),
        ),
    )
    .order_by(T.c.run_after, T.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_CLAIM = (
    update(T)
    .where(T.c.id.in_(_DUE.scalar_subquery()))
    .values(
        state="running",
        attempts=T.c.attempts + 1,
        lease_token=bindparam("token"),
        locked_by=bindparam("worker_id"),
        lease_until=bindparam("lease_until"),
        updated_at=bindparam("now"),
    )
    .returning(T)
)
# Every job ends here: built once (building and keying it took longer than running it).
_COMPLETE = _FENCED.values(
    state="done",
    finished_at=bindparam("at"),
    updated_at=bindparam("at"),
    lease_until=None,
    lease_token=None,
)


@functools.cache
def _insert_one(dialect: str, *, keyed: bool) -> Any:
    """The one-job insert of :meth:`JobQueue.enqueue`, built once per dialect (building it
    anew cost as much as running it); a ``keyed`` job yields to one with its key."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(T)
    if keyed:
        stmt = stmt.on_conflict_do_nothing(index_elements=["idempotency_key"])
    return stmt.returning(T.c.id)


@dataclass(frozen=True)
class Job:
    """A claimed job, as a handler sees it."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    store_id: int | None
    lease_token: str
    lease_until: datetime
    idempotency_key: str | None


@dataclass
class JobContext:
    """What a handler receives: the job, the core, and the session its writes go through."""

    taskra: Taskra
    job: Job
    session: AsyncSession


JobHandler = Callable[[JobContext], Awaitable[None]]


@dataclass(frozen=True)
class JobSpec:
    kind: str
    handler: JobHandler
    max_attempts: int | None = None
    lease_seconds: float | None = None


class JobRegistry:
    """Handlers by job kind, filled through the ``register_jobs`` hook."""

    def __init__(self) -> None:
        self._specs: Registry[JobSpec] = Registry("Job kind", callables=False)

    def register(
        self,
        kind: str,
        handler: JobHandler,
        *,
        max_attempts: int | None = None,
        lease_seconds: float | None = None,
    ) -> None:
        if not callable(handler):
            raise StartupError(f"Handler for job kind {kind!r} is not callable.")
        self._specs.add(kind, JobSpec(kind, handler, max_attempts, lease_seconds))

    def get(self, kind: str) -> JobSpec | None:
        return self._specs.get(kind)

    @property
    def kinds(self) -> tuple[str, ...]:
        return self._specs.names


class JobQueue:
    """Enqueue, claim, complete, fail and inspect jobs."""

    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        # Set after a transaction that enqueued a job commits, so an in-process worker
        # starts it at once instead of at its next poll.
        self.wakeup = asyncio.Event()

    # --- producing -----------------------------------------------------------------------

    async def enqueue(
        self,
        session: AsyncSession,
        kind: str,
        payload: dict[str, Any] | None = None,
        *,
        store_id: int | None = None,
        idempotency_key: str | None = None,
        delay: float = 0.0,
        max_attempts: int | None = None,
    ) -> int:
        """Add a job in ``session``'s transaction and return its id (commit is the caller's).

        With an ``idempotency_key`` that is already queued or done, nothing is added and the
        existing job's id is returned.
        """
        payload = payload or {}
        try:
            json.dumps(payload)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"Job payload for {kind!r} must be JSON-serializable: {exc}"
            ) from exc
        now = self.clock.now()
        values = {
            "kind": kind,
            "payload": payload,
            "store_id": store_id,
            "idempotency_key": idempotency_key,
            "state": "queued",
            "attempts": 0,
            "max_attempts": max_attempts or self.settings.job_max_attempts,
            "run_after": now + timedelta(seconds=delay),
            "created_at": now,
            "updated_at": now,
        }
        stmt = _insert_one(self.db.dialect, keyed=idempotency_key is not None)
        job_id = (await session.execute(stmt, values)).scalar_one_or_none()
        if job_id is None:
            job_id = (await session.execute(_BY_KEY, {"key": idempotency_key})).scalar_one()
        event.listen(session.sync_session, "after_commit", self._wake, once=True)
        return int(job_id)

    async def enqueue_many(
        self,
        session: AsyncSession,
        kind: str,
        jobs: Sequence[tuple[dict[str, Any], int | None, str]],
        *,
        return_ids: bool = True,
    ) -> list[int]:
        """Add many jobs of ``kind`` in one statement; ``jobs`` are ``(payload, store_id,
        idempotency_key)``. Returns their ids in order (an existing job's for a key that is
        already taken), like :meth:`enqueue` called for each, but with one round trip for
        a batch. With ``return_ids=False`` the ids are not read back (one statement less)
        and the result is empty."""
        if not jobs:
            return []
        rows = self._rows(kind, jobs, self.clock.now())
        await session.run_sync(lambda sync: _BULK_INSERT.execute(sync.connection(), rows))
        event.listen(session.sync_session, "after_commit", self._wake, once=True)
        if not return_ids:
            return []
        # Ids are read back by key, which also finds jobs that existed already.
        keys = [key for _payload, _store, key in jobs]
        found = select(T.c.id, T.c.idempotency_key).where(T.c.idempotency_key.in_(keys))
        ids = {key: job_id for job_id, key in (await session.execute(found)).all()}
        return [int(ids[key]) for _payload, _store, key in jobs]

    def add_many(
        self, conn: Connection, kind: str, jobs: Sequence[tuple[dict[str, Any], int | None, str]]
    ) -> None:
        """Add ``jobs`` (as :meth:`enqueue_many`, ids not read back) in ``conn``'s
        transaction, for a caller that writes in its own synchronous transaction
        (:meth:`~taskra_core.db.Database.run_transaction`); it calls :meth:`wake` once that
        transaction commits. The batch is one driver call (:class:`.bulk.BulkInsert`)."""
        _BULK_INSERT.execute(conn, self._rows(kind, jobs, self.clock.now()))

    def _rows(
        self,
        kind: str,
        jobs: Sequence[tuple[dict[str, Any], int | None, str]],
        now: datetime,
    ) -> list[tuple[Any, ...]]:
        attempts = self.settings.job_max_attempts
        return [
            (kind, payload, store_id, key, "queued", 0, attempts, now, now, now)
            for payload, store_id, key in jobs
        ]

    def wake(self) -> None:
        """Start an in-process worker on new jobs now rather than at its next poll."""
        self.wakeup.set()

    def _wake(self, _session: Any) -> None:
        # The after-commit listener of an enqueue's session (which SQLAlchemy passes in).
        self.wake()

    # --- consuming -----------------------------------------------------------------------

    async def claim(
        self,
        worker_id: str,
        kinds: Sequence[str],
        limit: int,
        lease_seconds: dict[str, float] | None = None,
    ) -> list[Job]:
        """Atomically reserve up to ``limit`` due jobs of ``kinds`` for ``worker_id``."""
        if not kinds or limit < 1:
            return []
        now = self.clock.now()
        params = {
            "kinds": list(kinds),
            "now": now,
            "limit": limit,
            "token": uuid.uuid4().hex,
            "worker_id": worker_id,
            "lease_until": now + timedelta(seconds=self.settings.job_lease_seconds),
        }
        async with self.db.transaction() as session:
            rows = (await session.execute(_CLAIM, params)).mappings().all()
            jobs = [self._job(row) for row in rows]
            # Kinds with their own lease length get it in the same transaction.
            for job in jobs:
                seconds = (lease_seconds or {}).get(job.kind)
                if seconds is not None:
                    until = now + timedelta(seconds=seconds)
                    await session.execute(
                        update(T).where(T.c.id == job.id).values(lease_until=until)
                    )
                    object.__setattr__(job, "lease_until", until)
        return sorted(jobs, key=lambda job: job.id)

    @staticmethod
    def _job(row: Any) -> Job:
        return Job(
            id=row["id"],
            kind=row["kind"],
            payload=dict(row["payload"] or {}),
            attempts=row["attempts"],
            max_attempts=row["max_attempts"],
            store_id=row["store_id"],
            lease_token=row["lease_token"],
            lease_until=row["lease_until"],
            idempotency_key=row["idempotency_key"],
        )

    @staticmethod
    def _fence(job: Job) -> dict[str, Any]:
        """The parameters of ``_FENCE`` for ``job``."""
        return {"job_id": job.id, "token": job.lease_token}

    async def complete(self, session: AsyncSession, job: Job) -> None:
        """Mark ``job`` done inside the handler's transaction; raise :class:`LeaseLost` if
        another worker has taken it over (the caller then rolls everything back)."""
        result = await session.execute(_COMPLETE, {**self._fence(job), "at": self.clock.now()})
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise LeaseLost(f"Job {job.id} was taken over by another worker; result discarded.")

    async def renew(self, job: Job, seconds: float) -> bool:
        """Extend ``job``'s lease to ``seconds`` from now, in a transaction of its own; False
        if the lease was lost (the job finished, or another worker took it over)."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            result = await session.execute(
                _FENCED.values(lease_until=now + timedelta(seconds=seconds)), self._fence(job)
            )
        return result.rowcount == 1  # type: ignore[attr-defined, no-any-return]

    async def fail(self, job: Job, error: BaseException | str, retry_in: float) -> str:
        """Record a failed attempt: requeue after ``retry_in`` seconds, or bury it as dead.

        Returns the new state (``queued`` or ``dead``), or ``""`` if the lease was lost.
        """
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        text = mask_text(text)[:MAX_ERROR_CHARS]
        now = self.clock.now()
        state = "dead" if job.attempts >= job.max_attempts else "queued"
        values: dict[str, Any] = {
            "state": state,
            "last_error": text,
            "lease_until": None,
            "lease_token": None,
            "locked_by": None,
            "updated_at": now,
        }
        if state == "dead":
            values["finished_at"] = now
        else:
            values["run_after"] = now + timedelta(seconds=max(retry_in, 0.0))
        async with self.db.transaction() as session:
            result = await session.execute(_FENCED.values(**values), self._fence(job))
        return state if result.rowcount == 1 else ""  # type: ignore[attr-defined]

    async def release(self, job: Job) -> None:
        """Give a claimed job back untouched (graceful shutdown): the attempt does not count."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            await session.execute(
                _FENCED.values(
                    state="queued",
                    attempts=T.c.attempts - 1,
                    run_after=now,
                    lease_until=None,
                    lease_token=None,
                    locked_by=None,
                    updated_at=now,
                ),
                self._fence(job),
            )

    # --- operating -----------------------------------------------------------------------

    async def list(
        self, *, state: str | None = None, kind: str | None = None, limit: int = 50
    ) -> list[JobRecord]:
        if state is not None and state not in JOB_STATES:
            raise InvalidInput(f"Unknown job state {state!r}; use one of {', '.join(JOB_STATES)}.")
        stmt = select(JobRecord).order_by(JobRecord.id.desc()).limit(limit)  # type: ignore[union-attr]
        if state is not None:
            stmt = stmt.where(T.c.state == state)
        if kind is not None:
            stmt = stmt.where(T.c.kind == kind)
        async with self.db.session() as session:
            return list((await session.scalars(stmt)).all())

    async def counts(self) -> dict[str, int]:
        stmt = select(T.c.state, func.count()).group_by(T.c.state)
        async with self.db.session() as session:
            rows = (await session.execute(stmt)).all()
        return {state: 0 for state in JOB_STATES} | {row[0]: int(row[1]) for row in rows}

    async def retry(self, ids: Iterable[int] = (), *, all_dead: bool = False) -> int:
        """Requeue dead jobs (by id, or all of them) with a fresh set of attempts."""
        ids = list(ids)
        if not ids and not all_dead:
            raise InvalidInput("Name the job ids to retry, or pass --all-dead.")
        now = self.clock.now()
        stmt = update(T).where(T.c.state == "dead")
        if ids:
            stmt = stmt.where(T.c.id.in_(ids))
        stmt = stmt.values(
            state="queued", attempts=0, run_after=now, finished_at=None, updated_at=now
        )
        async with self.db.transaction() as session:
            result = await session.execute(stmt)
        self.wake()
        return int(result.rowcount)  # type: ignore[attr-defined]
