"""Group commit of webhook receipts: many deliveries, one transaction, each durable before 200.

A commit per request caps ingest at what the database can commit one by one, far below what
the HTTP layer sustains. Instead each verified delivery joins the batch being collected and
waits; one writer task takes the whole batch, inserts its receipts and their jobs in one
transaction, and only after that commit does every waiting request get its answer. So every
acknowledged delivery is stored (with its job), and a failed commit fails every request of
the batch (503: Shopify retries them). While a batch is being written, the next one fills.

Duplicates are dropped twice: inside the batch (same webhook id, or same shop and event id)
and against the table with ``ON CONFLICT DO NOTHING`` on its unique keys. A duplicate is
answered like the original: it is stored already.

The batcher belongs to one app (``app.state.webhook_batcher``): the app's lifespan starts it
after the core and stops it, writing what is still waiting, before the core shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from taskra_core.bulk import BulkInsert
from taskra_core.errors import DatabaseError
from taskra_core.models import Store
from taskra_shopify.webhook_dispatch import SOURCE, WEBHOOK_JOB, R, topics_of

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from taskra_core.app import Taskra

log = logging.getLogger(__name__)

S = Store.__table__  # type: ignore[attr-defined]
# A batch is closed once the event loop has gone this many turns without a new delivery:
# every request whose bytes had arrived has then been verified and joined it. A fixed wait
# (2 ms, before) left the event loop idle under load, when every connection was waiting
# for the batch: bench/ingest.py served about 10% more requests a second this way. A lone
# delivery waits two turns, not 2 ms.
QUIET_TURNS = 2
# Rows per transaction: keeps one commit short and its statements under parameter limits.
MAX_BATCH = 500


@dataclass(frozen=True)
class Incoming:
    """A verified delivery on its way to the table."""

    shop: str
    topic: str
    webhook_id: str
    event_id: str | None
    triggered_at: datetime | None
    api_version: str | None
    received_at: datetime
    payload: dict[str, Any]
    error: str | None  # set when the body is unusable: stored as failed, nothing runs


@dataclass
class _Waiting:
    item: Incoming
    done: asyncio.Future[None]


class ReceiptBatcher:
    """Collects deliveries and writes them in batches; :meth:`submit` returns once durable."""

    def __init__(self, taskra: Taskra, *, quiet_turns: int = QUIET_TURNS) -> None:
        self.taskra = taskra
        self.quiet_turns = quiet_turns
        self._pending: list[_Waiting] = []
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._stores: dict[str, int] = {}  # shop domain -> store id

    async def start(self) -> None:
        # Built here, after the core started, so the topic registry is complete.
        topics_of(self.taskra)
        self._closing = False
        self._task = asyncio.create_task(self._run(), name="taskra-webhook-batcher")

    async def stop(self) -> None:
        """Stop taking deliveries, write every one already taken, then end the writer."""
        self._closing = True
        self._arrived.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def submit(self, item: Incoming) -> None:
        """Store ``item`` (or find it stored already); raise :class:`DatabaseError` if not."""
        if self._closing or self._task is None:
            raise DatabaseError("Taskra is shutting down; the delivery was not stored.")
        waiting = _Waiting(item, asyncio.get_running_loop().create_future())
        self._pending.append(waiting)
        self._arrived.set()
        await waiting.done

    async def _run(self) -> None:
        while True:
            await self._arrived.wait()
            if not self._closing:
                await self._gather()
            self._arrived.clear()
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                await self._settle(batch)
            if self._closing:
                return

    async def _gather(self) -> None:
        """Let the event loop turn until no delivery joined for ``quiet_turns`` turns (or
        the batch is full)."""
        seen, quiet = len(self._pending), 0
        while quiet < self.quiet_turns and seen < MAX_BATCH:
            await asyncio.sleep(0)
            quiet = quiet + 1 if len(self._pending) == seen else 0
            seen = len(self._pending)

    async def _settle(self, batch: list[_Waiting]) -> None:
        try:
            await self._write([w.item for w in batch])
        except IntegrityError:
            # One row broke a constraint the batch could not foresee (its store was deleted
            # meanwhile): forget the cached stores and write the rows one by one, so the
            # others are not refused with it.
            self._stores.clear()
            for waiting in batch:
                await self._settle_one(waiting)
            return
        except Exception as exc:  # never leave a request waiting on a writer that died
            log.exception("storing webhook receipts failed", extra={"batch": len(batch)})
            self._fail(batch, exc)
            return
        for waiting in batch:
            if not waiting.done.done():
                waiting.done.set_result(None)

    async def _settle_one(self, waiting: _Waiting) -> None:
        try:
            await self._write([waiting.item])
        except Exception as exc:
            log.exception("storing a webhook receipt failed", extra={"topic": waiting.item.topic})
            self._fail([waiting], exc)
        else:
            if not waiting.done.done():
                waiting.done.set_result(None)

    @staticmethod
    def _fail(batch: Iterable[_Waiting], exc: BaseException) -> None:
        error = DatabaseError(f"The delivery could not be stored ({type(exc).__name__}).")
        for waiting in batch:
            if not waiting.done.done():
                waiting.done.set_exception(error)

    async def _write(self, items: list[Incoming]) -> None:
        """One transaction of two statements: the receipts, then a job for each new handled
        one, run in a single trip to the database (``Database.run_transaction``).

        A job names its delivery by webhook id (its idempotency key is derived from it), so
        no receipt id has to be read back and linked: a repeated delivery inserts neither
        a second receipt nor a second job. Store ids come from a small cache, since every
        delivery of a shop names the same store. Each statement is one driver call
        (:class:`~taskra_core.bulk.BulkInsert`): on SQLite the write shares the GIL with
        the event loop parsing the next requests, and SQLAlchemy's per-row parameter
        handling was about half of it.
        """
        unique = _dedupe(items)
        topics = topics_of(self.taskra)
        jobs = self.taskra.jobs
        known = dict(self._stores)

        def write(conn: Connection) -> tuple[dict[str, int], bool]:
            missing = {item.shop for item in unique} - known.keys()
            found = _store_ids(conn, missing) if missing else {}
            stores = known | found
            rows, queued = [], []
            for item in unique:
                store_id = stores.get(item.shop)
                status = _status(item, item.topic in topics)
                rows.append(_receipt_row(item, store_id, status))
                if status == "queued":
                    queued.append(
                        ({"webhook_id": item.webhook_id}, store_id, job_key(item.webhook_id))
                    )
            # No conflict target: a row that collides on either unique key is a duplicate.
            # Without RETURNING, so the batch is one driver call.
            _RECEIPTS.execute(conn, rows)
            if queued:
                jobs.add_many(conn, WEBHOOK_JOB, queued)
            return found, bool(queued)

        found, queued = await self.taskra.db.run_transaction(write)
        # Only known shops are cached: a shop that installs later is looked up again.
        self._stores.update(found)
        if queued:
            jobs.wake()


def job_key(webhook_id: str) -> str:
    """The ``shopify.webhook`` job's idempotency key for a delivery (fits the key column
    whatever the length of the webhook id)."""
    return f"{WEBHOOK_JOB}:{hashlib.sha256(webhook_id.encode()).hexdigest()[:40]}"


_RECEIPT_COLUMNS = (
    "store_id",
    "source",
    "topic",
    "delivery_id",
    "event_id",
    "shop_domain",
    "api_version",
    "triggered_at",
    "received_at",
    "status",
    "error",
    "payload",
)
_RECEIPTS = BulkInsert(R, _RECEIPT_COLUMNS)


def _receipt_row(item: Incoming, store_id: int | None, status: str) -> tuple[Any, ...]:
    """A receipt's values in ``_RECEIPT_COLUMNS`` order."""
    return (
        store_id,
        SOURCE,
        item.topic,
        item.webhook_id,
        item.event_id,
        item.shop,
        item.api_version,
        item.triggered_at,
        item.received_at,
        status,
        item.error,
        item.payload,
    )


def _status(item: Incoming, handled: bool) -> str:
    if item.error is not None:
        return "failed"
    return "queued" if handled else "ignored"


def _dedupe(items: list[Incoming]) -> list[Incoming]:
    """The first of each webhook id and of each (shop, event id), in arrival order."""
    seen_ids: set[str] = set()
    seen_events: set[tuple[str, str]] = set()
    unique: list[Incoming] = []
    for item in items:
        event = (item.shop, item.event_id) if item.event_id is not None else None
        if item.webhook_id in seen_ids or (event is not None and event in seen_events):
            continue
        seen_ids.add(item.webhook_id)
        if event is not None:
            seen_events.add(event)
        unique.append(item)
    return unique


def _store_ids(conn: Connection, shops: set[str]) -> dict[str, int]:
    query = select(S.c.domain, S.c.id).where(S.c.domain.in_(sorted(shops)))
    return {domain: int(store_id) for domain, store_id in conn.execute(query).all()}
