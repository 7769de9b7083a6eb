"""The SQLite writer thread's WAL checkpoints (taskra_core.sqlite_writer): never inside the
group commit's own commits, and still often enough that the log does not grow."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from taskra_core.db import Database, _sqlite_pragmas
from taskra_core.sqlite_writer import SqliteWriter

ROW = "x" * 4_000  # about a page a row


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[SqliteWriter]:
    url = make_url(f"sqlite:///{tmp_path}/writer.db")
    made = SqliteWriter(url, 5_000, _sqlite_pragmas, checkpoint_bytes=200_000)
    made.run(lambda conn: conn.exec_driver_sql("CREATE TABLE rows (body TEXT)"))
    yield made
    made.dispose()


def insert(rows: int) -> Callable[[Connection], None]:
    def work(conn: Connection) -> None:
        conn.execute(text("INSERT INTO rows (body) VALUES (:body)"), [{"body": ROW}] * rows)

    return work


def test_the_writer_connection_leaves_checkpoints_to_its_own_thread(
    writer: SqliteWriter,
) -> None:
    """The writer's connection has SQLite's automatic checkpoint off (so no commit of a batch
    stalls on one); it still writes in WAL mode."""
    settings = writer.run(
        lambda conn: (
            conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar(),
            conn.exec_driver_sql("PRAGMA journal_mode").scalar(),
        )
    )
    assert settings == (0, "wal")


def test_the_log_is_checkpointed_once_past_its_size(writer: SqliteWriter) -> None:
    """Writing 25 times the checkpoint size, batch after batch, leaves a log of about one
    checkpoint's size: each time it passes the size, a checkpoint copies it back and the
    next commit starts the log again. Without the checkpoints it would hold every batch."""
    wal = f"{writer.engine.url.database}-wal"
    largest = 0
    for _ in range(50):
        writer.run(insert(25))  # about 100 KB
        writer.settle()
        largest = max(largest, os.path.getsize(wal))
    written = 50 * 25 * len(ROW)
    assert written >= 25 * writer.checkpoint_bytes
    assert largest < 3 * writer.checkpoint_bytes
    count = writer.run(lambda conn: conn.exec_driver_sql("SELECT count(*) FROM rows").scalar())
    assert count == 50 * 25


async def test_other_connections_keep_automatic_checkpoints(tmp_path: Path) -> None:
    """Only the writer's connection hands its checkpoints over; the event loop's connections
    keep SQLite's own (every 1,000 pages)."""
    database = Database.from_url(f"sqlite+aiosqlite:///{tmp_path}/other.db")
    try:
        async with database.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == 1000
    finally:
        await database.dispose()


def test_a_database_named_by_uri_keeps_automatic_checkpoints(tmp_path: Path) -> None:
    """The log's size is read from its file, which a ``file:`` URI does not name plainly:
    such a database keeps SQLite's own checkpoints rather than none at all."""
    url = make_url(f"sqlite:///file:{tmp_path}/uri.db?uri=true")
    made = SqliteWriter(url, 5_000, _sqlite_pragmas)
    try:
        pragma = made.run(lambda conn: conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar())
    finally:
        made.dispose()
    assert pragma == 1000
    assert (tmp_path / "uri.db").exists()
