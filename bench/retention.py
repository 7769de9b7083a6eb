"""Retention sweep at scale: delete 1M expired messages while the inbox is being read.

    python bench/retention.py                      # 1M expired messages, temporary SQLite file
    python bench/retention.py --messages 100000    # quicker
    python bench/retention.py --database-url postgresql+asyncpg://postgres@127.0.0.1/bench

Loads ``--messages`` messages stored 400 days ago (all expired) across 100 stores, plus a
recent conversation per 100 of them that must survive. Then, in one process and one event
loop, as ``taskra serve`` runs its in-process worker:

- **baseline**: a reader lists a random store's open conversations (50 a page) every
  ``--interval`` ms for ``--baseline-seconds``, with nothing else running;
- **sweep**: the same reader runs while ``taskra.retention.run()`` deletes everything due,
  and a writer receives a new customer message every 100 ms (the inbox keeps working).

Prints the sweep's time and rows per second, and the reader's p50/p99 during the sweep
beside the baseline's, with the ratio. Budget (DESIGN section 11): sweep < 60 s, reader
p99 < 100 ms during the sweep.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _results import record

from taskra_core.clock import Clock
from taskra_core.inbox.listing import ConversationFilter
from taskra_core.inbox.messages import InboundMessage
from taskra_core.models import Conversation, Customer, Message, Store
from taskra_core.testing import make_test_taskra

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
EXPIRED = NOW - timedelta(days=400)
BATCH = 10_000
WORDS = [
    "order",
    "parcel",
    "refund",
    "boots",
    "jacket",
    "size",
    "tent",
    "stove",
    "tracking",
    "courier",
    "late",
    "damaged",
]


def table(model: Any) -> Any:
    return model.__table__


async def populate(taskra: Any, n_messages: int, n_stores: int, per_conv: int) -> None:
    rng = random.Random(42)
    n_convs = max(1, n_messages // per_conv)
    started = time.perf_counter()
    stores = [
        {
            "id": s + 1,
            "domain": f"bench{s}.myshopify.com",
            "name": f"Bench {s}",
            "plan": "free",
            "scopes": "",
            # No AI drafts for the writer's messages: this measures the sweep, not drafting.
            "settings": {"autonomy": {"default": "off"}},
            "created_at": EXPIRED,
            "updated_at": EXPIRED,
        }
        for s in range(n_stores)
    ]
    # One customer per expired conversation (all swept), one per recent one (kept).
    n_recent = max(n_stores, n_convs // 100)
    customers = [
        {
            "id": c + 1,
            "store_id": c % n_stores + 1,
            "email": f"c{c}@bench.example",
            "name": f"Customer {c}",
            "ai_processing_objected": False,
            "created_at": EXPIRED,
            "updated_at": EXPIRED if c < n_convs else NOW - timedelta(days=1),
        }
        for c in range(n_convs + n_recent)
    ]
    conversations = [
        {
            "id": c + 1,
            "store_id": c % n_stores + 1,
            "customer_id": c + 1,
            "channel": "email",
            "status": rng.choice(["open", "open", "pending", "closed"]),
            "subject": "Order",
            "normalized_subject": "order",
            "escalated": False,
            "tags": [],
            "priority": "normal",
            "last_message_at": (when := EXPIRED if c < n_convs else NOW - timedelta(days=1)),
            "created_at": when,
            "updated_at": when,
        }
        for c in range(n_convs + n_recent)
    ]
    async with taskra.db.transaction() as session:
        await session.execute(insert(table(Store)), stores)
    for rows, model in ((customers, Customer), (conversations, Conversation)):
        for start in range(0, len(rows), BATCH):
            async with taskra.db.transaction() as session:
                await session.execute(insert(table(model)), rows[start : start + BATCH])

    def message(i: int, conv: int, created: datetime) -> dict[str, Any]:
        return {
            "id": i + 1,
            "store_id": conv % n_stores + 1,
            "conversation_id": conv + 1,
            "channel": "email",
            "channel_message_id": f"<{i}@bench>",
            "direction": "inbound",
            "author": "customer",
            "text": " ".join(rng.choice(WORDS) for _ in range(12)),
            "meta": {},
            "created_at": created,
        }

    total = n_messages + n_recent
    for start in range(0, total, BATCH):
        rows = [
            message(i, i // per_conv, EXPIRED)
            if i < n_messages
            else message(i, n_convs + i - n_messages, NOW - timedelta(days=1))
            for i in range(start, min(start + BATCH, total))
        ]
        async with taskra.db.transaction() as session:
            await session.execute(insert(table(Message)), rows)
        print(f"\rloaded {min(start + BATCH, total):,}/{total:,} messages", end="", file=sys.stderr)
    if taskra.db.dialect == "postgresql":
        # Rows were inserted with their ids: move the sequences past them for the writer.
        async with taskra.db.transaction() as session:
            for name in ("stores", "customers", "conversations", "messages"):
                sequence = f"pg_get_serial_sequence('{name}', 'id')"
                await session.execute(text(f"SELECT setval({sequence}, max(id)) FROM {name}"))
        # A live database has statistics (autovacuum); a freshly loaded one needs them now.
        async with taskra.db.transaction() as session:
            await session.execute(text("ANALYZE"))
    print(f"\nloaded in {time.perf_counter() - started:.1f} s", file=sys.stderr)


class Sampler:
    """Calls ``fn`` every ``interval`` seconds until stopped; keeps each call's latency."""

    def __init__(self, fn: Callable[[], Awaitable[Any]], interval: float) -> None:
        self.fn, self.interval = fn, interval
        self.times: list[float] = []
        self._stop = asyncio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            began = time.perf_counter()
            await self.fn()
            self.times.append((time.perf_counter() - began) * 1000)
            await asyncio.sleep(self.interval)

    def stop(self) -> None:
        self._stop.set()

    def percentile(self, p: float) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else 0.0


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--stores", type=int, default=100)
    parser.add_argument("--per-conversation", type=int, default=50)
    parser.add_argument("--interval", type=float, default=20, help="ms between reads")
    parser.add_argument("--baseline-seconds", type=float, default=10)
    parser.add_argument("--batch-size", type=int, help="TASKRA_RETENTION_BATCH_SIZE")
    parser.add_argument("--database-url")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        taskra = make_test_taskra(url, clock=Clock(NOW))
        await taskra.startup()
        try:
            await populate(taskra, args.messages, args.stores, args.per_conversation)
            rng = random.Random(7)

            async def read() -> None:
                store = rng.randrange(args.stores) + 1
                await taskra.inbox.list_conversations(
                    store, ConversationFilter(status="open"), limit=50
                )

            written = 0

            async def write() -> None:
                nonlocal written
                written += 1
                inbound = InboundMessage(
                    channel="email", from_email=f"w{written}@bench.example", text="Hello again"
                )
                await taskra.inbox.receive(rng.randrange(args.stores) + 1, inbound)

            baseline = Sampler(read, args.interval / 1000)
            task = asyncio.create_task(baseline.run())
            await asyncio.sleep(args.baseline_seconds)
            baseline.stop()
            await task

            reader, writer = Sampler(read, args.interval / 1000), Sampler(write, 0.1)
            tasks = [asyncio.create_task(s.run()) for s in (reader, writer)]
            began = time.perf_counter()
            report = await taskra.retention.run(batch_size=args.batch_size)
            sweep_seconds = time.perf_counter() - began
            for sampler in (reader, writer):
                sampler.stop()
            await asyncio.gather(*tasks)

            async with taskra.db.session() as session:
                left = await session.scalar(select(func.count()).select_from(table(Message)))
        finally:
            await taskra.shutdown()

    deleted = {r.name: r.counts for r in report.results if r.total}
    rows = sum(r.total for r in report.results)
    print(f"\n{args.messages:,} expired messages, {args.stores} stores, {taskra.db.dialect}")
    print(f"deleted: {deleted}; messages left: {left:,}; errors: {not report.ok}")
    sweep_ok = "ok" if sweep_seconds < 60 else "OVER BUDGET"
    print(
        f"sweep: {sweep_seconds:.1f} s ({rows / sweep_seconds:,.0f} rows/s)"
        f"  budget < 60 s  {sweep_ok}"
    )
    print(f"{'inbox list (50)':<28}{'p50 ms':>9}{'p99 ms':>9}{'baseline p99':>14}{'ratio':>8}")
    b99 = baseline.percentile(0.99)
    p50, p99 = reader.percentile(0.5), reader.percentile(0.99)
    verdict = "ok" if p99 < 100 else "OVER BUDGET"
    print(f"{'during sweep':<28}{p50:>9.2f}{p99:>9.2f}{b99:>14.2f}{p99 / b99:>8.1f}  {verdict}")
    record(
        "retention",
        f"sweep of {args.messages:,} expired messages ({taskra.db.dialect})",
        sweep_seconds,
        "s",
        budget="< 60 s",
        met=sweep_seconds < 60,
    )
    record(
        "retention",
        "inbox list p99 during the sweep",
        p99,
        "ms",
        budget="< 100 ms",
        met=p99 < 100,
        baseline=b99,
        baseline_label="the same reads with no sweep, p99",
    )
    print(
        f"{'inbox writes during sweep':<28}{writer.percentile(0.5):>9.2f}"
        f"{writer.percentile(0.99):>9.2f}  ({len(writer.times)} messages received)"
    )
    print(f"reads: {len(baseline.times)} baseline, {len(reader.times)} during the sweep")


if __name__ == "__main__":
    asyncio.run(main())
