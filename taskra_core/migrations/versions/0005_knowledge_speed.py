"""knowledge search speed on PostgreSQL

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 08:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite needs no schema change: FTS5 already narrows to one store inside the index
# (migration 0003), and taskra_core.knowledge.search merges its segments after imports.
POSTGRES_UPGRADE = [
    # One GIN index over the store and the words, so a search reads only its own store's
    # entries instead of every store's matches and then the table to filter them.
    "CREATE EXTENSION IF NOT EXISTS btree_gin",
    "DROP INDEX IF EXISTS ix_knowledge_passages_search",
    # A passage's vector (1-3 kB) was moved out of line by TOAST, so ranking fetched it from
    # the TOAST table for every matching passage; kept in the row, it is read with the row.
    "ALTER TABLE knowledge_passages ALTER COLUMN search_vector SET STORAGE MAIN",
    # Rewrites the rows already there, so they are stored that way too.
    "UPDATE knowledge_passages SET title = title",
    # New entries wait in a pending list that every search scans until it is merged into
    # the index; at the default 4 MB that costs a search milliseconds. 256 kB keeps inserts
    # batched (10,000 passages: 5 s, against 9 s with no list at all) and the scan short.
    "CREATE INDEX ix_knowledge_passages_store_search ON knowledge_passages"
    " USING gin (store_id, search_vector) WITH (gin_pending_list_limit = 256)",
    # Search estimates how common a word is from these statistics (and so does the planner).
    "ANALYZE knowledge_passages",
]
POSTGRES_DOWNGRADE = [
    "DROP INDEX IF EXISTS ix_knowledge_passages_store_search",
    "ALTER TABLE knowledge_passages ALTER COLUMN search_vector SET STORAGE EXTENDED",
    "CREATE INDEX ix_knowledge_passages_search ON knowledge_passages USING gin (search_vector)",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_DOWNGRADE:
            op.execute(statement)
