"""Many rows into one table in one driver call, with no per-row statement machinery.

``connection.execute(insert(table), rows)`` asks SQLAlchemy to build a parameter set per
row: a dict, every value through its column's bind processor, then the driver's own
conversion. For the group commit of webhook receipts that was about half the writer's time,
and on SQLite the writer runs on a thread that shares the GIL with the event loop, so every
microsecond there is taken from the requests being parsed. :class:`BulkInsert` compiles its
``INSERT ... ON CONFLICT DO NOTHING`` once per dialect, converts each value with the same
bind processors (so what is stored is exactly what ``execute`` would store), reuses the
conversion of a value repeated from the row before (a batch's rows share their timestamps),
and hands the driver a list of tuples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Dialect

# A column's bind processor (None: the driver takes the value as it is).
_Processor = Callable[[Any], Any] | None


class BulkInsert:
    """``INSERT INTO table (columns) ... ON CONFLICT DO NOTHING`` for many rows at once.

    ``conflict_target``: the unique columns whose collision skips a row (default: any
    unique key). Rows are sequences of Python values in ``columns`` order, as a model would
    hold them (aware datetimes, dicts for JSON columns). A column left out gets the
    database's default, not the model's: so every NOT NULL column without a server default
    must be listed. Only SQLite and PostgreSQL.
    """

    def __init__(
        self,
        table: Table,
        columns: Sequence[str],
        *,
        conflict_target: Sequence[str] | None = None,
    ) -> None:
        unknown = [name for name in columns if name not in table.c]
        if unknown:
            raise ValueError(f"{table.name} has no column {', '.join(unknown)}")
        required = [
            c.name
            for c in table.c
            if not (c.nullable or c.server_default is not None or c.autoincrement is True)
            and not (c.primary_key and c.autoincrement == "auto")
            and c.name not in columns
        ]
        if required:
            raise ValueError(f"{table.name} needs a value for {', '.join(required)}")
        self.table = table
        self.columns = tuple(columns)
        self.conflict_target = list(conflict_target) if conflict_target else None
        # Per dialect name: the SQL, and for each placeholder its column's position and
        # bind processor.
        self._compiled: dict[str, tuple[str, list[tuple[int, _Processor]]]] = {}

    def execute(self, conn: Connection, rows: Iterable[Sequence[Any]]) -> None:
        """Insert ``rows`` in ``conn``'s transaction, skipping rows that collide."""
        sql, slots = self._for(conn.dialect)
        params = list(_converted(rows, slots))
        if params:
            conn.exec_driver_sql(sql, params)

    def _for(self, dialect: Dialect) -> tuple[str, list[tuple[int, _Processor]]]:
        found = self._compiled.get(dialect.name)
        if found is not None:
            return found
        if dialect.name not in ("sqlite", "postgresql"):
            raise NotImplementedError(f"BulkInsert does not support {dialect.name}")
        insert = pg_insert if dialect.name == "postgresql" else sqlite_insert
        stmt = insert(self.table).on_conflict_do_nothing(index_elements=self.conflict_target)
        compiled = stmt.compile(dialect=dialect, column_keys=list(self.columns))
        order = compiled.positiontup
        if order is None:  # a dialect with named placeholders: not one Taskra uses
            raise NotImplementedError(f"BulkInsert needs positional parameters ({dialect.name})")
        slots: list[tuple[int, _Processor]] = [
            # The dialect's own implementation of the type (SQLite's DATETIME writes its
            # text format), as SQLAlchemy itself would use.
            (
                self.columns.index(name),
                self.table.c[name].type.dialect_impl(dialect).bind_processor(dialect),
            )
            for name in order
        ]
        self._compiled[dialect.name] = (str(compiled), slots)
        return self._compiled[dialect.name]


def _converted(
    rows: Iterable[Sequence[Any]], slots: list[tuple[int, _Processor]]
) -> Iterable[tuple[Any, ...]]:
    last_in: list[Any] = [object()] * len(slots)
    last_out: list[Any] = [None] * len(slots)
    for row in rows:
        out = []
        for n, (index, process) in enumerate(slots):
            value = row[index]
            if process is not None and value is not None:
                # `is`, not ==: equal values of different types may convert differently.
                if value is last_in[n]:
                    value = last_out[n]
                else:
                    last_in[n], value = value, process(value)
                    last_out[n] = value
            out.append(value)
        yield tuple(out)
