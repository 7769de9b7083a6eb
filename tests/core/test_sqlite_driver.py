"""SQLite through aiosqlite in one trip per statement (taskra_core.sqlite_driver), and
``Database.run_transaction``'s single trip to its writer thread.

Trips are counted at aiosqlite's own queue (``aiosqlite.Connection._execute``, the library's
code, not Taskra's), so the tests see what the event loop waits for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from taskra_core.db import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database.from_url(f"sqlite+aiosqlite:///{tmp_path}/driver.db")
    async with database.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT UNIQUE)"))
    yield database
    await database.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each function aiosqlite sends to its connection's thread, by name."""
    sent: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Callable[..., Any], *args: Any) -> Any:
        sent.append(getattr(fn, "__qualname__", None) or getattr(fn.func, "__qualname__", "?"))  # type: ignore[attr-defined]
        return await original(self, fn, *args)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return sent


async def test_a_read_is_one_trip_and_closing_its_session_none(
    db: Database, trips: list[str]
) -> None:
    """A SELECT costs one trip (execute, fetch and close together), and returning the
    connection to the pool costs none, since nothing was written (no rollback trip)."""
    async with db.session() as session:
        await session.execute(text("SELECT 1"))  # the connection is open and warm
        trips.clear()
        rows = (await session.execute(text("SELECT 1 AS one, 'x' AS letter"))).all()
        assert len(trips) == 1
    assert rows == [(1, "x")]
    assert len(trips) == 1


async def test_a_write_is_one_trip_and_its_commit_another(db: Database, trips: list[str]) -> None:
    """An INSERT then a commit: two trips, and the row, its id and the row count are right."""
    async with db.session() as session:
        await session.execute(text("SELECT 1"))
        trips.clear()
        result = await session.execute(text("INSERT INTO notes (body) VALUES ('hello')"))
        await session.commit()
        assert len(trips) == 2
        assert result.rowcount == 1
        assert result.lastrowid == 1  # type: ignore[attr-defined]
    async with db.session() as session:
        assert (await session.execute(text("SELECT id, body FROM notes"))).all() == [(1, "hello")]


async def test_many_rows_fetch_whole_and_in_parts(db: Database) -> None:
    """executemany stores every row; rows come back complete, in order, with their column
    names, whether fetched at once, one by one or in chunks."""
    async with db.transaction() as session:
        await session.execute(
            text("INSERT INTO notes (body) VALUES (:body)"), [{"body": f"n{i}"} for i in range(50)]
        )
    async with db.session() as session:
        result = await session.execute(text("SELECT id, body FROM notes ORDER BY id"))
        assert list(result.keys()) == ["id", "body"]
        assert result.fetchone() == (1, "n0")
        assert result.fetchmany(3) == [(2, "n1"), (3, "n2"), (4, "n3")]
        rest = result.fetchall()
        assert len(rest) == 46
        assert rest[-1] == (50, "n49")
        updated = await session.execute(text("UPDATE notes SET body = body || '!' WHERE id <= 7"))
        assert updated.rowcount == 7
        await session.rollback()
    async with db.session() as session:
        assert await session.scalar(text("SELECT count(*) FROM notes WHERE body LIKE '%!'")) == 0


async def test_a_failed_write_is_rolled_back_and_the_connection_still_works(
    db: Database,
) -> None:
    """A constraint violation surfaces as SQLAlchemy's IntegrityError; the transaction is
    rolled back (its first row too) and the next session works normally."""
    async with db.transaction() as session:
        await session.execute(text("INSERT INTO notes (body) VALUES ('same')"))
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO notes (body) VALUES ('other')"))
            await session.execute(text("INSERT INTO notes (body) VALUES ('same')"))
    async with db.session() as session:
        bodies = (await session.scalars(text("SELECT body FROM notes ORDER BY id"))).all()
    assert bodies == ["same"]


async def test_run_transaction_commits_in_one_trip_and_rolls_back_on_error(
    db: Database, trips: list[str]
) -> None:
    """run_transaction runs the whole work off the event loop's connections (no aiosqlite
    trip at all), commits what returns, and keeps nothing of work that raises."""

    def add(conn: Connection) -> int:
        conn.execute(text("INSERT INTO notes (body) VALUES ('a'), ('b')"))
        return int(conn.execute(text("SELECT count(*) FROM notes")).scalar_one())

    def add_then_fail(conn: Connection) -> None:
        conn.execute(text("INSERT INTO notes (body) VALUES ('c')"))
        conn.execute(text("INSERT INTO notes (body) VALUES ('a')"))  # duplicate

    assert await db.run_transaction(add) == 2
    assert trips == []
    with pytest.raises(IntegrityError):
        await db.run_transaction(add_then_fail)
    async with db.session() as session:
        bodies = (await session.scalars(text("SELECT body FROM notes ORDER BY id"))).all()
    assert bodies == ["a", "b"]


async def test_run_transaction_works_on_a_database_in_memory() -> None:
    """A database in memory cannot be opened by a second connection: the work runs on the
    engine's own connection instead, with the same result."""
    db = Database.from_url("sqlite+aiosqlite://")
    try:
        assert (
            await db.run_transaction(lambda conn: conn.execute(text("SELECT 41 + 1")).scalar())
            == 42
        )
    finally:
        await db.dispose()
