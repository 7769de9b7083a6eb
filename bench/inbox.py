"""Inbox at scale: list, search and open a conversation with 1M messages across 100 stores.

    python bench/inbox.py                      # 1M messages on a temporary SQLite file
    python bench/inbox.py --messages 200000    # quicker
    python bench/inbox.py --database-url postgresql+asyncpg://postgres@127.0.0.1/bench

Prints p50/p95 per operation through Taskra's inbox API, and beside each the same figure
for a bare SQL query on the same data (the baseline), so the ratio shows what the layers add.
Budget (DESIGN section 11): p95 < 25 ms on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _results import record

from taskra_core.inbox.listing import ConversationFilter
from taskra_core.models import Conversation, Customer, Message, Store
from taskra_core.testing import make_test_taskra

WORDS = [
    "order",
    "parcel",
    "delivery",
    "refund",
    "return",
    "boots",
    "jacket",
    "size",
    "small",
    "large",
    "waterproof",
    "tent",
    "stove",
    "tracking",
    "courier",
    "late",
    "damaged",
    "exchange",
    "colour",
    "discount",
    "code",
    "warranty",
    "zip",
    "seam",
    "socks",
    "gloves",
    "hat",
    "rucksack",
    "strap",
    "broken",
    "missing",
    "address",
    "change",
    "cancel",
    "invoice",
    "gift",
]
BASE = datetime(2025, 1, 1, tzinfo=UTC)
BATCH = 10_000
SAMPLES = 200


async def populate(taskra: Any, n_messages: int, n_stores: int, per_conv: int) -> None:
    rng = random.Random(42)
    conn_tables = (Store, Customer, Conversation, Message)
    tables = [m.__table__ for m in conn_tables]  # type: ignore[attr-defined]
    stores_t, customers_t, convs_t, messages_t = tables
    n_convs = n_messages // per_conv
    customers_per_store = max(1, n_convs // n_stores // 2)
    started = time.perf_counter()
    async with taskra.db.transaction() as session:
        await session.execute(
            insert(stores_t),
            [
                {
                    "id": s + 1,
                    "domain": f"bench{s}.myshopify.com",
                    "name": f"Bench {s}",
                    "plan": "free",
                    "scopes": "",
                    "settings": {},
                    "created_at": BASE,
                    "updated_at": BASE,
                }
                for s in range(n_stores)
            ],
        )
        await session.execute(
            insert(customers_t),
            [
                {
                    "id": s * customers_per_store + c + 1,
                    "store_id": s + 1,
                    "email": f"c{c}@store{s}.example",
                    "name": f"Customer {c}",
                    "ai_processing_objected": False,
                    "created_at": BASE,
                    "updated_at": BASE,
                }
                for s in range(n_stores)
                for c in range(customers_per_store)
            ],
        )
    conv_rows = []
    for i in range(n_convs):
        store = i % n_stores
        customer = store * customers_per_store + rng.randrange(customers_per_store) + 1
        last = BASE + timedelta(minutes=i)
        conv_rows.append(
            {
                "id": i + 1,
                "store_id": store + 1,
                "customer_id": customer,
                "channel": "email",
                "status": rng.choice(["open", "open", "pending", "closed"]),
                "subject": "Order",
                "normalized_subject": "order",
                "escalated": False,
                "tags": [],
                "priority": "normal",
                "last_message_at": last,
                "created_at": last,
                "updated_at": last,
            }
        )
    for start in range(0, len(conv_rows), BATCH):
        async with taskra.db.transaction() as session:
            await session.execute(insert(convs_t), conv_rows[start : start + BATCH])
    msg_id = 0
    for start in range(0, n_messages, BATCH):
        rows = []
        for j in range(start, min(start + BATCH, n_messages)):
            msg_id += 1
            conv = j // per_conv
            words = " ".join(rng.choice(WORDS) for _ in range(12))
            rows.append(
                {
                    "id": msg_id,
                    "store_id": conv % n_stores + 1,
                    "conversation_id": conv + 1,
                    "channel": "email",
                    "channel_message_id": f"<{msg_id}@bench>",
                    "direction": "inbound",
                    "author": "customer",
                    "text": words,
                    "meta": {},
                    "created_at": BASE + timedelta(seconds=j),
                }
            )
        async with taskra.db.transaction() as session:
            await session.execute(insert(messages_t), rows)
        done = min(start + BATCH, n_messages)
        print(f"\rloaded {done:,}/{n_messages:,} messages", end="", file=sys.stderr)
    print(f"\nloaded in {time.perf_counter() - started:.1f} s", file=sys.stderr)


async def timed(fn: Callable[[], Awaitable[Any]], samples: int = SAMPLES) -> tuple[float, float]:
    for _ in range(5):
        await fn()
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--stores", type=int, default=100)
    parser.add_argument("--per-conversation", type=int, default=50)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        taskra = make_test_taskra(url)
        await taskra.startup()
        try:
            await populate(taskra, args.messages, args.stores, args.per_conversation)
            rng = random.Random(7)
            n_convs = args.messages // args.per_conversation

            def store() -> int:
                return rng.randrange(args.stores) + 1

            async def raw(sql: str, **params: Any) -> None:
                async with taskra.db.session() as session:
                    (await session.execute(text(sql), params)).all()

            cases = {
                "list open conversations (50)": (
                    lambda: taskra.inbox.list_conversations(
                        store(), ConversationFilter(status="open"), limit=50
                    ),
                    lambda: raw(
                        "SELECT * FROM conversations WHERE store_id = :s AND status = 'open'"
                        " ORDER BY last_message_at DESC, id DESC LIMIT 51",
                        s=store(),
                    ),
                ),
                "search a word": (
                    lambda: taskra.inbox.search(store(), rng.choice(WORDS)),
                    lambda: raw("SELECT id FROM messages WHERE store_id = :s LIMIT 20", s=store()),
                ),
                "open a conversation (50 messages)": (
                    lambda: taskra.inbox.open_conversation(
                        (c := rng.randrange(n_convs)) % args.stores + 1, c + 1
                    ),
                    lambda: raw(
                        "SELECT * FROM messages WHERE conversation_id = :c ORDER BY id DESC"
                        " LIMIT 50",
                        c=rng.randrange(n_convs) + 1,
                    ),
                ),
            }
            print(f"\n{args.messages:,} messages, {args.stores} stores, {taskra.db.dialect}")
            print(f"{'operation':<36}{'p50 ms':>9}{'p95 ms':>9}{'baseline p95':>14}{'ratio':>8}")
            for name, (api, baseline) in cases.items():
                p50, p95 = await timed(api)
                _, b95 = await timed(baseline)
                verdict = "ok" if p95 < 25 else "OVER BUDGET"
                print(f"{name:<36}{p50:>9.2f}{p95:>9.2f}{b95:>14.2f}{p95 / b95:>8.1f}  {verdict}")
                record(
                    "inbox",
                    f"{name} p95 at {args.messages:,} messages ({taskra.db.dialect})",
                    p95,
                    "ms",
                    budget="< 25 ms",
                    met=p95 < 25,
                    baseline=b95,
                    baseline_label="the bare SQL query, p95",
                )
        finally:
            await taskra.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
