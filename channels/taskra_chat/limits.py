"""Rate limits for storefront chat, counted in the database.

Fixed one-minute windows, one row per (store, bucket, window), incremented with an upsert:
every web process sees the same count (an in-process limiter would give each of N processes
its own allowance), it costs one small write per bucket per message, and it works the same
on SQLite and PostgreSQL. A refused request rolls its increments back, so only accepted
messages count. Rows older than a few windows are deleted as new windows open.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from taskra_core.errors import ChatRateLimited
from taskra_core.models import ChatRateCounter

WINDOW = timedelta(minutes=1)
KEEP = timedelta(minutes=10)


@dataclass(frozen=True)
class Limit:
    """At most ``per_minute`` counts in ``bucket``; ``message`` is shown to the visitor."""

    bucket: str
    per_minute: int
    message: str


def client_bucket(client: str, secret: bytes) -> str:
    """A bucket for a client address that does not store the address: a keyed hash."""
    digest = hmac.new(secret, client.encode(), hashlib.sha256).hexdigest()[:32]
    return f"client:{digest}"


def window_of(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


async def count(
    session: AsyncSession, dialect: str, store_id: int, limits: list[Limit], now: datetime
) -> None:
    """Count one request against each of ``limits`` in ``session``'s transaction, or raise
    :class:`ChatRateLimited` (the caller's transaction then rolls every increment back)."""
    start = window_of(now)
    table = ChatRateCounter.__table__  # type: ignore[attr-defined]
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    opened = False
    for limit in limits:
        stmt = insert(table).values(store_id=store_id, bucket=limit.bucket, window_start=start)
        stmt = stmt.values(count=1).on_conflict_do_update(
            index_elements=["store_id", "bucket", "window_start"],
            set_={"count": table.c.count + 1},
        )
        used = int((await session.execute(stmt.returning(table.c.count))).scalar_one())
        if used > limit.per_minute:
            retry_after = math.ceil((start + WINDOW - now).total_seconds())
            raise ChatRateLimited(limit.message, retry_after=max(1, retry_after))
        opened = opened or used == 1
    if opened:  # a new window began: forget old ones (of this store)
        await session.execute(
            delete(ChatRateCounter).where(
                col(ChatRateCounter.store_id) == store_id,
                col(ChatRateCounter.window_start) < start - KEEP,
            )
        )
