"""A store's drafting policy: autonomy per intent, the monthly AI budget, and usage.

These live in ``Store.settings`` so a merchant can change them without a deploy::

    {"autonomy": {"default": "draft", "intents": {"order_status": "auto_send"}},
     "ai_budget_usd": 50, "refund_threshold": 300}

Autonomy modes: ``off`` (no AI draft), ``draft`` (a person approves; the default) and
``auto_send`` (sent without review, only when no guardrail fired, nothing awaits approval and
no person has taken the conversation over by answering it or having it assigned).
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from taskra_core.drafting.types import INTENTS, TokenUsage
from taskra_core.errors import InvalidInput
from taskra_core.models import Store, Usage
from taskra_core.settings import Settings

AUTONOMY_MODES = ("off", "draft", "auto_send")
DEFAULT_AUTONOMY = "draft"


def period_of(moment: datetime) -> str:
    """The billing period (``YYYY-MM``, UTC) a moment falls in."""
    return f"{moment:%Y-%m}"


def autonomy_for(store: Store, intent: str | None) -> str:
    """The autonomy mode for ``intent`` (its own setting, else the store's default)."""
    config = (store.settings or {}).get("autonomy") or {}
    per_intent = config.get("intents") or {}
    mode = per_intent.get(intent) if intent else None
    mode = mode or config.get("default") or DEFAULT_AUTONOMY
    return mode if mode in AUTONOMY_MODES else DEFAULT_AUTONOMY


def drafts_for(store: Store) -> bool:
    """Whether new messages of ``store`` get AI drafts: not while autonomy is ``off``, and
    never for a store that uninstalled the app (no AI processing, no spend for it)."""
    return store.uninstalled_at is None and autonomy_for(store, None) != "off"


def with_autonomy(store: Store, mode: str, intent: str | None = None) -> dict[str, Any]:
    """``store.settings`` with autonomy ``mode`` set for ``intent`` (or as the default)."""
    if mode not in AUTONOMY_MODES:
        raise InvalidInput(f"Autonomy must be one of {', '.join(AUTONOMY_MODES)}, not {mode!r}.")
    if intent is not None and intent not in INTENTS:
        raise InvalidInput(f"Unknown intent {intent!r}; use one of {', '.join(INTENTS)}.")
    settings = dict(store.settings or {})
    config = dict(settings.get("autonomy") or {})
    if intent is None:
        config["default"] = mode
    else:
        config["intents"] = {**(config.get("intents") or {}), intent: mode}
    settings["autonomy"] = config
    return settings


def budget_micros(store: Store, settings: Settings) -> int:
    """The store's monthly AI budget in micro-dollars (its own, else ``TASKRA_AI_BUDGET_USD``)."""
    value = (store.settings or {}).get("ai_budget_usd", settings.ai_budget_usd)
    try:
        return max(round(float(value) * 1_000_000), 0)
    except (TypeError, ValueError):
        return int(settings.ai_budget_usd * 1_000_000)


def refund_threshold(store: Store, settings: Settings) -> float:
    value = (store.settings or {}).get("refund_threshold", settings.refund_threshold)
    try:
        return float(value)
    except (TypeError, ValueError):
        return settings.refund_threshold


@dataclass(frozen=True)
class Budget:
    """Where a store stands against its monthly AI budget."""

    period: str
    budget_usd: float
    spent_usd: float
    exhausted: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


USAGE_COUNTERS = (
    "ai_replies",
    "messages_processed",
    "input_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "output_tokens",
    "cost_micros",
)
# Built once: on the draft path, building a statement cost about as much as running it.
# On the table, not the model: the ORM's result handling is not needed for columns.
_USAGE = Usage.__table__  # type: ignore[attr-defined]
_COUNTERS = select(*(_USAGE.c[name] for name in USAGE_COUNTERS)).where(
    _USAGE.c.store_id == bindparam("store_id"), _USAGE.c.period == bindparam("period")
)


async def usage_counters(session: AsyncSession, store_id: int, period: str) -> dict[str, int]:
    """A store's ``USAGE_COUNTERS`` for ``period`` (``YYYY-MM``); zeros for a month with no
    drafts."""
    params = {"store_id": store_id, "period": period}
    row = (await session.execute(_COUNTERS, params)).first()
    return {name: int(row[i]) if row else 0 for i, name in enumerate(USAGE_COUNTERS)}


async def usage_in(session: AsyncSession, store_id: int, period: str) -> dict[str, Any]:
    """A store's counters for ``period`` (``YYYY-MM``), the cost in USD."""
    counts: dict[str, Any] = await usage_counters(session, store_id, period)
    micros = counts.pop("cost_micros")
    return {"period": period, **counts, "cost_usd": micros / 1_000_000}


async def spent_micros(session: AsyncSession, store_id: int, period: str) -> int:
    row = await session.scalar(
        select(col(Usage.cost_micros)).where(
            col(Usage.store_id) == store_id, col(Usage.period) == period
        )
    )
    return int(row or 0)


async def budget_status(
    session: AsyncSession, store: Store, settings: Settings, now: datetime
) -> Budget:
    assert store.id is not None
    period = period_of(now)
    return budget_of(store, settings, period, await spent_micros(session, store.id, period))


def budget_of(store: Store, settings: Settings, period: str, spent: int) -> Budget:
    """``store``'s budget in ``period`` once ``spent`` (micro-USD) is spent."""
    cap = budget_micros(store, settings)
    return Budget(period, cap / 1_000_000, spent / 1_000_000, spent >= cap)


async def record_usage(
    session: AsyncSession,
    dialect: str,
    store_id: int,
    now: datetime,
    usage: TokenUsage,
    cost_micros: int,
    *,
    replies: int = 1,
) -> int:
    """Add one draft's usage to the store's month, atomically (an upsert, not read-then-write,
    so concurrent drafts cannot lose each other's counts). Returns the month's AI replies
    after this one: its exact place in the period, which billing meters by."""
    values = {
        "store_id": store_id,
        "period": period_of(now),
        "ai_replies": replies,
        "messages_processed": 1,
        "input_tokens": usage.input_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "output_tokens": usage.output_tokens,
        "cost_micros": cost_micros,
        "updated_at": now,
    }
    return int((await session.execute(_usage_upsert(dialect), values)).scalar_one())


@functools.cache
def _usage_upsert(dialect: str) -> Any:
    """The upsert of :func:`record_usage` for ``dialect``, built once: each counter adds the
    new row's value to the stored one."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(_USAGE)
    return stmt.on_conflict_do_update(
        index_elements=["store_id", "period"],
        set_={
            **{name: _USAGE.c[name] + stmt.excluded[name] for name in USAGE_COUNTERS},
            "updated_at": stmt.excluded.updated_at,
        },
    ).returning(_USAGE.c.ai_replies)
