"""How long the chat channel keeps its own rows (its messages follow the inbox's policy).

- ``chat.sessions``: a visitor session unused for as long as messages are kept
  (``TASKRA_RETENTION_MESSAGES_DAYS``) goes; its conversation went, or goes, with the
  messages, so the session could only restore an empty chat.
- ``chat.rate-counters``: rate-limit windows are deleted as new ones open; a store that went
  quiet keeps its last few, which this sweeps after a day.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_

from taskra_core.models import ChatRateCounter, ChatSession

if TYPE_CHECKING:
    from taskra_core.retention.policy import SweepContext
    from taskra_core.settings import Settings

SESSIONS: Any = ChatSession.__table__  # type: ignore[attr-defined]
COUNTERS: Any = ChatRateCounter.__table__  # type: ignore[attr-defined]


def sessions_period(settings: Settings) -> timedelta:
    return timedelta(days=settings.retention_messages_days)


async def sweep_sessions(ctx: SweepContext) -> Counter[str]:
    """Sessions last used before the cutoff, one store at a time."""
    counts: Counter[str] = Counter({SESSIONS.name: 0})
    for store_id in await ctx.store_ids():
        where = and_(SESSIONS.c.store_id == store_id, SESSIONS.c.last_seen_at < ctx.cutoff)
        counts.update(await ctx.delete(SESSIONS, where))
    return counts


async def sweep_counters(ctx: SweepContext) -> Counter[str]:
    """Rate-limit windows that started before the cutoff, one store at a time."""
    counts: Counter[str] = Counter({COUNTERS.name: 0})
    for store_id in await ctx.store_ids():
        where = and_(COUNTERS.c.store_id == store_id, COUNTERS.c.window_start < ctx.cutoff)
        counts.update(await ctx.delete(COUNTERS, where))
    return counts


def register_policies(register: Callable[..., None]) -> None:
    register(
        "chat.sessions",
        sweep_sessions,
        period=sessions_period,
        description="Storefront chat visitor sessions, by when they were last used.",
    )
    register(
        "chat.rate-counters",
        sweep_counters,
        period=timedelta(days=1),
        description="Storefront chat rate-limit counts of quiet stores.",
    )
