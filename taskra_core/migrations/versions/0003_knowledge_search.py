"""knowledge search

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 09:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Full-text search over knowledge passages (taskra_core.knowledge.search queries it).
# SQLite: an FTS5 table over knowledge_passages, kept in step by triggers, Porter-stemmed.
# PostgreSQL: a generated, weighted tsvector (title A, keywords B, text C) with a GIN index.
# store_id is indexed as a token so a search narrows to one store inside FTS5 itself.
_COLUMNS = "title, text, keywords, store_id"
_OLD = "old.title, old.text, old.keywords, old.store_id"
_NEW = "new.title, new.text, new.keywords, new.store_id"
SQLITE_FTS = [
    f"CREATE VIRTUAL TABLE knowledge_fts USING fts5({_COLUMNS}, content='knowledge_passages',"
    " content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER knowledge_fts_ai AFTER INSERT ON knowledge_passages BEGIN"
    f" INSERT INTO knowledge_fts(rowid, {_COLUMNS}) VALUES (new.id, {_NEW}); END",
    "CREATE TRIGGER knowledge_fts_ad AFTER DELETE ON knowledge_passages BEGIN"
    f" INSERT INTO knowledge_fts(knowledge_fts, rowid, {_COLUMNS})"
    f" VALUES ('delete', old.id, {_OLD}); END",
    "CREATE TRIGGER knowledge_fts_au AFTER UPDATE OF title, text, keywords ON knowledge_passages"
    " BEGIN"
    f" INSERT INTO knowledge_fts(knowledge_fts, rowid, {_COLUMNS})"
    f" VALUES ('delete', old.id, {_OLD});"
    f" INSERT INTO knowledge_fts(rowid, {_COLUMNS}) VALUES (new.id, {_NEW}); END",
    # Passages written before this migration are indexed too.
    "INSERT INTO knowledge_fts(knowledge_fts) VALUES ('rebuild')",
]
POSTGRES_FTS = [
    "ALTER TABLE knowledge_passages ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('english', coalesce(title, '')), 'A')"
    " || setweight(to_tsvector('english', coalesce(keywords, '')), 'B')"
    " || setweight(to_tsvector('english', coalesce(text, '')), 'C')) STORED",
    "CREATE INDEX ix_knowledge_passages_search ON knowledge_passages USING gin (search_vector)",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_FTS if dialect == "sqlite" else POSTGRES_FTS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for suffix in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS knowledge_fts_{suffix}")
        op.execute("DROP TABLE IF EXISTS knowledge_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_knowledge_passages_search")
        op.execute("ALTER TABLE knowledge_passages DROP COLUMN IF EXISTS search_vector")
