"""BulkInsert: one driver call for many rows, storing exactly what SQLAlchemy's insert stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from taskra_core.app import Taskra
from taskra_core.bulk import BulkInsert
from taskra_core.jobs import NEW_JOB_COLUMNS
from taskra_core.models import JobRecord

T = JobRecord.__table__  # type: ignore[attr-defined]
COLUMNS = NEW_JOB_COLUMNS  # kind, payload, store_id, idempotency_key, state, attempts,
# max_attempts, run_after, created_at, updated_at: the order of the rows below
NOW = datetime(2026, 11, 27, 12, 30, 0, tzinfo=UTC)  # no microseconds: a formatting edge
OTHER = datetime(2026, 11, 27, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))


def rows(prefix: str) -> list[tuple[Any, ...]]:
    # NOW repeats with OTHER between: a reused conversion must not leak into the wrong row.
    return [
        ("k", {"n": 1, "text": "caf\u00e9"}, None, f"{prefix}-1", "queued", 0, 5, NOW, NOW, NOW),
        ("k", {}, None, f"{prefix}-2", "queued", 3, 5, OTHER, NOW, OTHER),
        ("k", {"n": [1, 2]}, None, f"{prefix}-3", "dead", 0, 5, NOW, OTHER, NOW),
        ("k", {"n": None}, None, None, "queued", 0, 5, NOW, NOW, NOW),
    ]


def stored(conn: Connection) -> list[tuple[Any, ...]]:
    """The rows as the database holds them (raw SQL: no type processing on the way out)."""
    found = conn.exec_driver_sql(f"SELECT {', '.join(COLUMNS)} FROM jobs ORDER BY id")
    return [tuple(row) for row in found]


async def test_rows_are_stored_exactly_as_sqlalchemy_stores_them(taskra: Taskra) -> None:
    """The same values through BulkInsert and through insert(table) give identical rows."""
    bulk = BulkInsert(T, COLUMNS, conflict_target=["idempotency_key"])
    insert = pg_insert if taskra.db.dialect == "postgresql" else sqlite_insert

    def both(conn: Connection) -> tuple[list[Any], list[Any]]:
        conn.execute(insert(T), [dict(zip(COLUMNS, row, strict=True)) for row in rows("orm")])
        orm = stored(conn)
        conn.exec_driver_sql("DELETE FROM jobs")
        bulk.execute(conn, rows("bulk"))
        return orm, stored(conn)

    orm, fast = await taskra.db.run_transaction(both)
    assert len(fast) == 4
    # Only the keys differ (each run its own prefix).
    assert [r[:3] + r[4:] for r in fast] == [r[:3] + r[4:] for r in orm]
    async with taskra.db.session() as session:
        jobs = (await session.scalars(select(JobRecord).order_by(JobRecord.id))).all()  # type: ignore[arg-type]
    assert [j.run_after for j in jobs] == [NOW, OTHER.astimezone(UTC), NOW, NOW]
    assert jobs[0].payload == {"n": 1, "text": "caf\u00e9"}


def job(key: str, payload: dict[str, Any]) -> tuple[Any, ...]:
    return ("k", payload, None, key, "queued", 0, 5, NOW, NOW, NOW)


async def test_colliding_rows_are_skipped_and_the_rest_inserted(taskra: Taskra) -> None:
    """A row whose key is taken (before or earlier in the batch) is left out, not an error."""
    bulk = BulkInsert(T, COLUMNS, conflict_target=["idempotency_key"])
    first = [job("a", {})]
    second = [job("a", {"again": True}), job("b", {}), job("b", {"twice": True})]
    await taskra.db.run_transaction(lambda conn: bulk.execute(conn, first))
    await taskra.db.run_transaction(lambda conn: bulk.execute(conn, second))
    async with taskra.db.session() as session:
        found = (await session.execute(text("SELECT idempotency_key, payload FROM jobs"))).all()
    assert sorted((key, str(payload)) for key, payload in found) == [("a", "{}"), ("b", "{}")]


async def test_no_rows_is_no_statement(taskra: Taskra) -> None:
    """An empty batch sends nothing (some drivers refuse an empty executemany)."""
    bulk = BulkInsert(T, COLUMNS)
    await taskra.db.run_transaction(lambda conn: bulk.execute(conn, []))
    async with taskra.db.session() as session:
        assert (await session.execute(text("SELECT count(*) FROM jobs"))).scalar() == 0


def test_an_unknown_or_missing_column_is_refused_when_built() -> None:
    """A typo in a column name, or a required column left out (the model's Python-side
    defaults are not applied), fails at construction, not at the first write."""
    with pytest.raises(ValueError, match="jobs has no column kindd"):
        BulkInsert(T, ("kindd", *COLUMNS[1:]))
    with pytest.raises(ValueError, match="jobs needs a value for created_at, updated_at"):
        BulkInsert(T, COLUMNS[:-2])
