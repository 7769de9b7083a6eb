"""The database: an async engine factory, sessions, and migrations.

SQLite (the default) is tuned for one busy process: WAL so readers never block the writer,
``synchronous=NORMAL`` (durable across application crashes, fast), foreign keys enforced, and
a busy timeout so concurrent writers wait instead of failing. PostgreSQL runs through asyncpg.
Nothing here connects at import time.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.types import DateTime, TypeDecorator

from taskra_core import sqlite_driver
from taskra_core.errors import DatabaseError
from taskra_core.sqlite_writer import SqliteWriter

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATIONS = Path(__file__).parent / "migrations"
R = TypeVar("R")


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps that go in as aware datetimes and always come out as aware UTC.

    SQLite has no time zones, so values are stored there as naive UTC; PostgreSQL keeps
    ``timestamptz``. Either way Python code only ever sees aware UTC datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use the Taskra clock")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create an async engine for ``url`` with Taskra's connection settings."""
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url,
            connect_args={
                "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                "async_creator_fn": sqlite_driver.connect,
            },
            **kwargs,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


class Database:
    """An engine plus a session factory. One per :class:`~taskra_core.app.Taskra`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
        # SQLite only: a synchronous engine and the one thread that uses it (run_transaction).
        self._writer: SqliteWriter | None = None

    @classmethod
    def from_url(cls, url: str) -> Database:
        return cls(make_engine(url))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session; commit explicitly. Uncommitted work is rolled back on exit."""
        async with self._sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside a transaction: commits on success, rolls back on error."""
        async with self._sessions() as session, session.begin():
            yield session

    async def run_transaction(self, work: Callable[[Connection], R]) -> R:
        """Run ``work`` (synchronous statements on a :class:`Connection`) in one transaction,
        committed when it returns, rolled back if it raises; returns its result.

        For writes made while the event loop is busy, such as the group commit of webhook
        receipts. Through aiosqlite every statement, the commit and the connection's reset
        are each a trip to its thread, and under load each trip waits for a whole turn of
        the busy event loop: bench/ingest.py measured 16 ms for a 37-row batch that way. So
        on a SQLite file the whole transaction runs in one trip, on a thread of its own with
        its own connection (WAL and the busy timeout keep it in step with the others). On
        PostgreSQL, or a SQLite database in memory that no second connection could see, it
        runs on an async connection.
        """
        writer = self._sqlite_writer()
        if writer is None:
            async with self.engine.begin() as conn:
                return await conn.run_sync(work)
        return await writer.transaction(work)

    def _sqlite_writer(self) -> SqliteWriter | None:
        if self._writer is not None:
            return self._writer
        url = self.engine.url
        memory = not url.database or url.database == ":memory:" or url.query.get("mode") == "memory"
        if url.get_backend_name() != "sqlite" or memory:
            return None
        self._writer = SqliteWriter(url, SQLITE_BUSY_TIMEOUT_MS, _sqlite_pragmas)
        return self._writer

    async def ping(self) -> None:
        """Raise :class:`DatabaseError` unless a trivial query succeeds."""
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as exc:
            raise DatabaseError(f"Database unreachable: {type(exc).__name__}") from exc

    async def upgrade(self, revision: str = "head") -> None:
        """Apply migrations up to ``revision`` (idempotent)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade, revision)

    async def current_revision(self) -> str | None:
        async with self.engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )

    async def dispose(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            await writer.close()
        await self.engine.dispose()


# Full-text search structures made by hand in migrations (FTS5 tables, tsvector columns):
# they have no model, so schema comparisons must not report them as strays.
SEARCH_OBJECT_PREFIXES = ("messages_fts", "customers_fts", "knowledge_fts")
SEARCH_COLUMNS = frozenset({"search_vector"})


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic filter: leave hand-made search structures out of autogenerate/compare."""
    if name is None:
        return True
    if type_ == "table" and name.startswith(SEARCH_OBJECT_PREFIXES):
        return False
    if type_ == "column" and name in SEARCH_COLUMNS:
        return False
    return not (type_ == "index" and name.endswith("_search"))


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic configuration without an ini file: works from a checkout and a wheel."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)
