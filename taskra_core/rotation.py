"""Key rotation: re-encrypt every stored secret under the primary key.

**Convention** (see :mod:`taskra_core.crypto`): every column whose name ends in ``_enc``, in
any table registered on ``SQLModel.metadata``, holds a :class:`~taskra_core.crypto.TokenCipher`
token sealed with context ``secret_context(table, column, row_id)``, and such tables have an
integer primary key ``id``. Nothing here names a table, so a plugin's secrets rotate too as
long as its tables follow the convention.

To rotate: make a new key (``taskra keygen``), set it as ``TASKRA_SECRET_KEY``, move the old
one to ``TASKRA_PREVIOUS_SECRET_KEYS``, run the rotation, then drop the old key.

Rows are read in batches ordered by ``id``; each batch is re-encrypted in its own
transaction. If a value cannot be decrypted the run stops with
:class:`~taskra_core.errors.DecryptionError` and that batch is left exactly as it was; earlier
batches stay rotated, which is safe because the primary key reads them. Running again
resumes, and a run with nothing left to do rotates nothing (idempotent). Values already under
the primary key are recognised by their key id and not decrypted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Column, MetaData, Table, func, or_, select, update
from sqlmodel import SQLModel

from taskra_core import models  # noqa: F401  (registers the core tables on the metadata)
from taskra_core.crypto import TokenCipher, secret_context
from taskra_core.db import Database
from taskra_core.errors import ConfigurationError, InvalidInput

ENCRYPTED_SUFFIX = "_enc"


@dataclass(frozen=True)
class RotationReport:
    """What a rotation did: non-NULL encrypted values it looked at, and how many it rewrote."""

    examined: int
    rotated: int


def encrypted_tables(metadata: MetaData | None = None) -> list[tuple[Table, list[Column[str]]]]:
    """Every table with ``*_enc`` columns, and those columns, in a stable order."""
    found: list[tuple[Table, list[Column[str]]]] = []
    for name, table in sorted((metadata or SQLModel.metadata).tables.items()):
        columns = [column for column in table.columns if column.name.endswith(ENCRYPTED_SUFFIX)]
        if not columns:
            continue
        if "id" not in table.c or not table.c.id.primary_key:
            raise ConfigurationError(
                f"Table {name!r} has encrypted columns but no primary key 'id'; the *_enc "
                "convention (taskra_core.crypto) needs one to bind each secret to its row."
            )
        found.append((table, columns))
    return found


async def count_stored_secrets(db: Database) -> int:
    """How many non-NULL ``*_enc`` values exist (the length of a rotation's progress bar)."""
    total = 0
    async with db.session() as session:
        conn = await session.connection()
        for table, columns in encrypted_tables():
            for column in columns:
                query = select(func.count()).select_from(table).where(column.is_not(None))
                total += int((await conn.execute(query)).scalar_one())
    return total


async def rotate_stored_secrets(
    db: Database,
    cipher: TokenCipher,
    *,
    batch_size: int = 500,
    on_progress: Callable[[int], None] | None = None,
) -> RotationReport:
    """Re-encrypt every ``*_enc`` value not sealed by ``cipher``'s primary key.

    ``on_progress`` is called after each committed batch with the number of values examined
    so far.
    """
    if batch_size < 1:
        raise InvalidInput(f"batch_size must be at least 1, not {batch_size}.")
    examined = rotated = 0
    for table, columns in encrypted_tables():
        last_id: int | None = None
        while True:
            query = (
                select(table.c.id, *columns)
                .where(or_(*(column.is_not(None) for column in columns)))
                .order_by(table.c.id)
                .limit(batch_size)
            )
            if last_id is not None:
                query = query.where(table.c.id > last_id)
            async with db.transaction() as session:
                conn = await session.connection()
                rows = (await conn.execute(query)).all()
                if not rows:
                    break
                changes: list[tuple[int, Column[str], str, str]] = []
                batch_examined = 0
                # Decrypt the whole batch before writing anything, so a bad value aborts the
                # batch with nothing half-done (the transaction would roll back regardless).
                for row in rows:
                    row_id = int(row[0])
                    for column, value in zip(columns, row[1:], strict=True):
                        if value is None:
                            continue
                        batch_examined += 1
                        if cipher.needs_rotation(value):
                            context = secret_context(table.name, column.name, row_id)
                            new = cipher.reencrypt(value, context=context)
                            changes.append((row_id, column, value, new))
                batch_rotated = 0
                for row_id, column, old, new in changes:
                    # Only replace the value we decrypted: if the app wrote a fresh token in
                    # the meantime, that one is already under the primary key.
                    result = await conn.execute(
                        update(table)
                        .where(table.c.id == row_id, column == old)
                        .values({column.name: new})
                    )
                    batch_rotated += result.rowcount
            last_id = int(rows[-1][0])
            examined += batch_examined
            rotated += batch_rotated
            if on_progress is not None:
                on_progress(examined)
    return RotationReport(examined=examined, rotated=rotated)
