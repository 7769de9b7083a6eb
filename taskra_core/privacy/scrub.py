"""After an erasure commits: leave no copy of the erased rows in the database files.

SQLite keeps the text of deleted rows in three places beyond the table pages that
``secure_delete`` zeroes: the full-text indexes' older segments (a delete only adds a
tombstone until segments merge), the write-ahead log (which holds every page as it was
written, until a checkpoint copies it back and the log is truncated), and free pages. This
runs the FTS ``optimize`` command (one merged segment, old ones freed and zeroed) and a
``wal_checkpoint(TRUNCATE)``. PostgreSQL removes dead row versions itself (autovacuum);
nothing runs there.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import text

from taskra_core.errors import DatabaseError

if TYPE_CHECKING:
    from taskra_core.app import Taskra
    from taskra_core.jobs import JobContext

log = logging.getLogger(__name__)

SCRUB_JOB = "privacy.scrub"
FTS_TABLES = ("messages_fts", "customers_fts")


async def scrub(taskra: Taskra) -> bool:
    """Merge search indexes and truncate the WAL; ``True`` when the log was fully emptied."""
    if taskra.db.dialect != "sqlite":
        return True
    async with taskra.db.engine.connect() as conn:
        await conn.execute(text("PRAGMA secure_delete=ON"))
        names = set(
            (await conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'")))
            .scalars()
            .all()
        )
        for table in FTS_TABLES:
            if table in names:
                await conn.execute(text(f"INSERT INTO {table}({table}) VALUES ('optimize')"))
        await conn.commit()
        # A checkpoint cannot run inside a transaction: switch this connection to autocommit.
        raw = await conn.execution_options(isolation_level="AUTOCOMMIT")
        busy, _log, _done = (await raw.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))).one()
    if busy:
        log.warning("WAL checkpoint after an erasure was blocked by a reader; retrying later")
    return not busy


async def scrub_job(ctx: JobContext) -> None:
    """``privacy.scrub``: retried (with backoff) until the checkpoint gets through."""
    if not await scrub(ctx.taskra):
        raise DatabaseError("A reader kept the write-ahead log busy; the scrub will retry.")
