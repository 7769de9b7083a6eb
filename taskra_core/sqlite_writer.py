"""SQLite's writer thread: whole transactions in one trip, and the WAL checkpointed aside.

:meth:`taskra_core.db.Database.run_transaction` runs a transaction on a SQLite file here: a
synchronous engine with its own connection, on one thread, so the transaction costs one trip
from the event loop however many statements it makes (the webhook group commit is its busy
user).

The writer's connection never checkpoints the WAL itself. SQLite copies the log back into
the database file (and syncs both) inside whichever commit takes the log past 1,000 pages;
on the group commit that stalled every request of that batch, every few batches
(bench/ingest.py). Here a commit that leaves the log past :data:`CHECKPOINT_BYTES` hands a
``PASSIVE`` checkpoint (it waits for no reader and no writer) to a thread of its own, and
the next batch is written meanwhile. The other connections keep SQLite's automatic
checkpoints.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection

log = logging.getLogger(__name__)

R = TypeVar("R")
# SQLite's own threshold (1,000 pages of 4 KiB).
CHECKPOINT_BYTES = 4_096_000


class SqliteWriter:
    """A synchronous engine on a SQLite file, its writer thread and its checkpoint thread."""

    def __init__(
        self,
        url: URL,
        busy_timeout_ms: int,
        on_connect: Callable[[Any, Any], None],
        *,
        checkpoint_bytes: int = CHECKPOINT_BYTES,
    ) -> None:
        self.checkpoint_bytes = checkpoint_bytes
        self.engine = create_engine(
            url.set(drivername="sqlite"),
            connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
        )
        event.listen(self.engine, "connect", on_connect)
        # The log's size is read from its file, so a database named by URI (``file:...``)
        # keeps SQLite's automatic checkpoints.
        self.wal = None if str(url.database).startswith("file:") else f"{url.database}-wal"
        if self.wal is not None:
            event.listen(self.engine, "connect", _no_automatic_checkpoints)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="taskra-sqlite-writer")
        self._checkpointer = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="taskra-sqlite-checkpoint"
        )
        self._checkpoint_due = threading.Event()

    async def transaction(self, work: Callable[[Connection], R]) -> R:
        """``work`` in one transaction on the writer thread: one trip from the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, self.run, work)

    async def close(self) -> None:
        """Wait for a checkpoint under way, close the connections, end the threads."""
        await asyncio.get_running_loop().run_in_executor(self._thread, self.dispose)
        self._thread.shutdown(wait=False)

    def run(self, work: Callable[[Connection], R]) -> R:
        """On the writer thread: ``work`` in one transaction, then a checkpoint if due."""
        with self.engine.begin() as conn:
            result = work(conn)
        self._after_commit()
        return result

    def _after_commit(self) -> None:
        if self.wal is None:
            return
        try:
            size = os.path.getsize(self.wal)
        except OSError:
            return  # no log (yet): nothing to copy back
        if size >= self.checkpoint_bytes and not self._checkpoint_due.is_set():
            self._checkpoint_due.set()
            self._checkpointer.submit(self.checkpoint)

    def checkpoint(self) -> None:
        """Copy what it can of the log back into the database file, waiting for no one."""
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception:
            # The log goes on growing until a later commit asks again; nothing is lost.
            log.warning("WAL checkpoint failed", exc_info=True)
        finally:
            self._checkpoint_due.clear()

    def settle(self) -> None:
        """Wait until a checkpoint already handed over has run."""
        self._checkpointer.submit(lambda: None).result()

    def dispose(self) -> None:
        """On the writer thread: wait for a checkpoint under way, close the connections."""
        self._checkpointer.shutdown(wait=True)
        self.engine.dispose()


def _no_automatic_checkpoints(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()
