"""What a retention policy is, the registry plugins fill, and the batched delete they share.

A policy names a kind of data, how long it is kept (its period), and an async ``sweep``
function that deletes what is older. Sweeps never delete in one statement: they take a
batch of primary keys, delete those rows in one short transaction, commit, and repeat, so a
database-wide write lock (SQLite) is held for milliseconds at a time and the inbox keeps
reading and writing while a sweep runs.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Table, delete, func, select
from sqlalchemy.sql.elements import ColumnElement

from taskra_core.db import Database
from taskra_core.errors import StartupError
from taskra_core.hooks import await_me_maybe
from taskra_core.models import Store
from taskra_core.registry import Registry
from taskra_core.settings import Settings

# On SQLite a sweep rests this fraction of each batch's time after committing it: writers
# waiting for the database lock (their busy handler polls every few to 100 ms) get a real
# chance to take it between batches. PostgreSQL locks rows, not the database: no rest.
SQLITE_REST_RATIO = 0.5

Period = timedelta | Callable[[Settings], timedelta]
# Called after each committed batch with the rows the sweep has deleted so far; may be async.
Progress = Callable[[int], Any]


@dataclass
class SweepContext:
    """What a policy's ``sweep`` receives: where, up to when, and how to delete in batches.

    ``cutoff`` is ``now - period``: rows older than it are due. With ``dry_run`` set,
    :meth:`delete` counts what it would delete and deletes nothing.
    """

    db: Database
    settings: Settings
    now: datetime
    cutoff: datetime
    batch_size: int
    dry_run: bool = False
    on_progress: Progress | None = None
    _deleted: int = field(default=0, init=False)

    async def store_ids(self) -> list[int]:
        """Every store's id: store data is swept one store at a time (each query scoped)."""
        stores: Table = Store.__table__  # type: ignore[attr-defined]
        async with self.db.session() as session:
            return [int(i) for i in await session.scalars(select(stores.c.id).order_by("id"))]

    async def delete(
        self,
        table: Table,
        where: ColumnElement[bool],
        *,
        dependents: Sequence[tuple[Table, Column[Any]]] = (),
    ) -> Counter[str]:
        """Delete the rows of ``table`` matching ``where``, a batch per transaction.

        ``dependents`` are ``(child_table, column referring to table's primary key)``: their
        rows for each batch are deleted first, in the same transaction (and counted), so a
        message never outlives its drafts nor the other way round. Returns rows deleted (or,
        in a dry run, that would be) per table name.
        """
        (pk,) = table.primary_key.columns
        counts = Counter(dict.fromkeys([child.name for child, _ in dependents] + [table.name], 0))
        if self.dry_run:
            doomed = select(pk).where(where)
            async with self.db.session() as session:
                for child, column in dependents:
                    n = await session.scalar(
                        select(func.count()).select_from(child).where(column.in_(doomed))
                    )
                    counts[child.name] += int(n or 0)
                n = await session.scalar(select(func.count()).select_from(table).where(where))
                counts[table.name] += int(n or 0)
            return counts
        while True:
            started = time.perf_counter()
            async with self.db.transaction() as session:
                ids = list(await session.scalars(select(pk).where(where).limit(self.batch_size)))
                if not ids:
                    break
                for child, column in dependents:
                    result = await session.execute(delete(child).where(column.in_(ids)))
                    counts[child.name] += result.rowcount  # type: ignore[attr-defined]
                # The condition is checked again: a row may have changed since it was read.
                result = await session.execute(delete(table).where(pk.in_(ids), where))
                deleted = int(result.rowcount)  # type: ignore[attr-defined]
            counts[table.name] += deleted
            self._deleted += deleted
            if self.on_progress is not None:
                await await_me_maybe(self.on_progress(self._deleted))
            if len(ids) < self.batch_size or deleted == 0:
                break
            if self.db.dialect == "sqlite":
                await asyncio.sleep((time.perf_counter() - started) * SQLITE_REST_RATIO)
        return counts


SweepFunction = Callable[[SweepContext], Awaitable[Mapping[str, int]]]


@dataclass(frozen=True)
class RetentionPolicy:
    """One policy: ``name``, what it covers, how long it keeps it, and how it sweeps."""

    name: str
    sweep: SweepFunction
    period: Period
    description: str = ""

    def period_for(self, settings: Settings) -> timedelta:
        """The period under ``settings``; :class:`StartupError` unless it is a timedelta of
        0 or more."""
        period = self.period(settings) if callable(self.period) else self.period
        if not isinstance(period, timedelta) or period < timedelta(0):
            raise StartupError(
                f"Retention policy {self.name!r} has no usable period ({period!r}); "
                "give a timedelta of 0 or more."
            )
        return period


class RetentionPolicies:
    """Policies by name, filled through the ``register_retention_policies`` hook, kept in
    the order they were registered (the order sweeps run in)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._policies: Registry[RetentionPolicy] = Registry(
            "Retention policy",
            pattern=r"[a-z][a-z0-9_.-]*",
            hint=" (lower-case letters, digits, '_', '.', '-')",
            callables=False,
        )
        self._order: list[str] = []

    def register(
        self, name: str, sweep: SweepFunction, *, period: Period, description: str = ""
    ) -> None:
        """The ``register`` callback of the hook: ``register(name, sweep, period=...,
        description=...)``. ``period`` is a ``timedelta`` or a function of the settings."""
        if not callable(sweep):
            raise StartupError(f"The sweep of retention policy {name!r} is not callable.")
        if not (isinstance(period, timedelta) or callable(period)):
            raise StartupError(
                f"Retention policy {name!r}: period must be a timedelta or a function of the "
                f"settings, got {type(period).__name__}."
            )
        policy = RetentionPolicy(name, sweep, period, description)
        policy.period_for(self.settings)  # a bad period stops start-up, not a sweep
        self._policies.add(name, policy)
        self._order.append(name)

    def get(self, name: str) -> RetentionPolicy | None:
        return self._policies.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._policies

    def __iter__(self) -> Iterator[RetentionPolicy]:
        for name in self._order:
            policy = self._policies.get(name)
            assert policy is not None  # every name in _order was added
            yield policy

    @property
    def names(self) -> tuple[str, ...]:
        """Names in the order the policies run."""
        return tuple(self._order)
