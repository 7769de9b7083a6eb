"""aiosqlite, one trip to its thread per statement.

aiosqlite runs each SQLite call on a thread of its own and hands the result back to the
event loop. SQLAlchemy's adapter makes four such calls per statement (create a cursor,
execute, fetch the rows, close) and one more to roll back every connection it takes back
into the pool, read-only or not. Each trip costs a wake-up of the thread and one of the
event loop, and under load a wait for the loop's turn: a draft made some 70 of them, a
third of its time (bench/draft.py).

:class:`OneTripConnection` keeps aiosqlite (its thread, its queue, its connection handling)
and changes only what a statement costs: its cursor executes, fetches every row and closes
in one trip, and ``commit``/``rollback`` make no trip when no transaction is open (reads:
SQLite's driver opens one only before a write). It is given to SQLAlchemy through the
``async_creator_fn`` connect argument (see :func:`taskra_core.db.make_engine`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

import aiosqlite


class OneTripCursor:
    """The part of ``aiosqlite.Cursor`` SQLAlchemy uses, with one trip per ``execute``."""

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self._rows: list[Any] = []
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> OneTripCursor:
        await self._connection.trip(partial(self._run, "execute", sql, parameters or ()))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> OneTripCursor:
        await self._connection.trip(partial(self._run, "executemany", sql, parameters))
        return self

    def _run(self, method: str, sql: str, parameters: Any) -> None:
        # On the connection's thread: everything the event loop will read is copied out,
        # and the SQLite cursor is closed before the trip back.
        cursor = self._connection._conn.cursor()
        try:
            getattr(cursor, method)(sql, parameters)
            self.description = cursor.description
            self._rows = cursor.fetchall() if cursor.description else []
            self.rowcount = cursor.rowcount
            self.lastrowid = cursor.lastrowid
        finally:
            cursor.close()

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        size = size or self.arraysize
        taken, self._rows = self._rows[:size], self._rows[size:]
        return taken

    async def fetchall(self) -> list[Any]:
        taken, self._rows = self._rows, []
        return taken

    async def close(self) -> None:
        self._rows = []


class OneTripConnection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors are :class:`OneTripCursor`."""

    def cursor(self) -> OneTripCursor:  # type: ignore[override]
        return OneTripCursor(self)

    async def trip(self, work: Callable[[], None]) -> None:
        """Run ``work`` on the connection's thread."""
        await self._execute(work)  # type: ignore[no-untyped-call]

    async def commit(self) -> None:
        if self._conn.in_transaction:
            await super().commit()

    async def rollback(self) -> None:
        if self._conn.in_transaction:
            await super().rollback()


def connect(database: str, *, iter_chunk_size: int = 64, **kwargs: Any) -> OneTripConnection:
    """Like ``aiosqlite.connect``; await the result to open the connection."""
    connection = OneTripConnection(partial(sqlite3.connect, database, **kwargs), iter_chunk_size)
    # As SQLAlchemy does for aiosqlite's own: the thread must not keep the process alive.
    connection._thread.daemon = True
    return connection
