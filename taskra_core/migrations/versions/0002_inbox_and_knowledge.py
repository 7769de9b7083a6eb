"""inbox and knowledge

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 05:44:05.261170
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import taskra_core.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("store_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("shopify_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("placed_at", taskra_core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", taskra_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", taskra_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_orders_store_id_stores"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("store_id", "name", name=op.f("uq_orders_store_id_name")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_store_email", ["store_id", "email"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_store_id"), ["store_id"], unique=False)

    op.create_table(
        "knowledge_passages",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("store_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("keywords", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["knowledge_items.id"],
            name=op.f("fk_knowledge_passages_item_id_knowledge_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_knowledge_passages_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_passages")),
    )
    with op.batch_alter_table("knowledge_passages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_knowledge_passages_item_id"), ["item_id"], unique=False
        )
        batch_op.create_index(
            "ix_knowledge_passages_source", ["store_id", "source_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_knowledge_passages_store_id"), ["store_id"], unique=False
        )

    op.create_table(
        "conversation_reads",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("store_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "conversation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("read_at", taskra_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_conversation_reads_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_reads_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_conversation_reads_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_reads")),
        sa.UniqueConstraint(
            "conversation_id",
            "account_id",
            name=op.f("uq_conversation_reads_conversation_id_account_id"),
        ),
    )
    with op.batch_alter_table("conversation_reads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversation_reads_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_conversation_reads_conversation_id"), ["conversation_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_conversation_reads_store_id"), ["store_id"], unique=False
        )

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "normalized_subject",
                sqlmodel.sql.sqltypes.AutoString(length=255),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(
            sa.Column("thread_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
        )
        batch_op.add_column(
            sa.Column("escalated", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_index(
            "ix_conversations_store_recent", ["store_id", "last_message_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_conversations_subject",
            ["store_id", "customer_id", "normalized_subject"],
            unique=False,
        )
        batch_op.create_index(
            "ix_conversations_thread_key", ["store_id", "channel", "thread_key"], unique=False
        )

    with op.batch_alter_table("knowledge_items", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "content_hash",
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=False,
                server_default="",
            )
        )

    create_inbox_search()


# Full-text search over messages and customers. SQLite: FTS5 tables over the real tables,
# kept in step by triggers, with the Porter stemmer. PostgreSQL: generated tsvector columns
# with GIN indexes. taskra_core.inbox.search queries whichever the database has.
SQLITE_FTS = [
    # store_id is indexed as a token so a search narrows to one store inside FTS5 itself.
    "CREATE VIRTUAL TABLE messages_fts USING fts5(text, store_id, content='messages',"
    " content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages BEGIN"
    " INSERT INTO messages_fts(rowid, text, store_id) VALUES (new.id, new.text, new.store_id);"
    " END",
    "CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, text, store_id)"
    " VALUES ('delete', old.id, old.text, old.store_id); END",
    "CREATE TRIGGER messages_fts_au AFTER UPDATE OF text ON messages BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, text, store_id)"
    " VALUES ('delete', old.id, old.text, old.store_id);"
    " INSERT INTO messages_fts(rowid, text, store_id) VALUES (new.id, new.text, new.store_id);"
    " END",
    "CREATE VIRTUAL TABLE customers_fts USING fts5(name, email, store_id, content='customers',"
    " content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER customers_fts_ai AFTER INSERT ON customers BEGIN"
    " INSERT INTO customers_fts(rowid, name, email, store_id)"
    " VALUES (new.id, new.name, new.email, new.store_id); END",
    "CREATE TRIGGER customers_fts_ad AFTER DELETE ON customers BEGIN"
    " INSERT INTO customers_fts(customers_fts, rowid, name, email, store_id)"
    " VALUES ('delete', old.id, old.name, old.email, old.store_id); END",
    "CREATE TRIGGER customers_fts_au AFTER UPDATE OF name, email ON customers BEGIN"
    " INSERT INTO customers_fts(customers_fts, rowid, name, email, store_id)"
    " VALUES ('delete', old.id, old.name, old.email, old.store_id);"
    " INSERT INTO customers_fts(rowid, name, email, store_id)"
    " VALUES (new.id, new.name, new.email, new.store_id); END",
]
POSTGRES_FTS = [
    "ALTER TABLE messages ADD COLUMN search_vector tsvector GENERATED ALWAYS AS"
    " (to_tsvector('english', coalesce(text, ''))) STORED",
    "CREATE INDEX ix_messages_search ON messages USING gin (search_vector)",
    "ALTER TABLE customers ADD COLUMN search_vector tsvector GENERATED ALWAYS AS"
    " (to_tsvector('simple', coalesce(name, '') || ' '"
    " || regexp_replace(coalesce(email, ''), '[@._+-]', ' ', 'g'))) STORED",
    "CREATE INDEX ix_customers_search ON customers USING gin (search_vector)",
]


def create_inbox_search() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_FTS if dialect == "sqlite" else POSTGRES_FTS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("messages_fts", "customers_fts"):
            for suffix in ("ai", "ad", "au"):
                op.execute(f"DROP TRIGGER IF EXISTS {name}_{suffix}")
            op.execute(f"DROP TABLE IF EXISTS {name}")
    else:
        op.execute("DROP INDEX IF EXISTS ix_messages_search")
        op.execute("DROP INDEX IF EXISTS ix_customers_search")
        op.execute("ALTER TABLE messages DROP COLUMN IF EXISTS search_vector")
        op.execute("ALTER TABLE customers DROP COLUMN IF EXISTS search_vector")
    with op.batch_alter_table("knowledge_items", schema=None) as batch_op:
        batch_op.drop_column("content_hash")

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_thread_key")
        batch_op.drop_index("ix_conversations_subject")
        batch_op.drop_index("ix_conversations_store_recent")
        batch_op.drop_column("escalated")
        batch_op.drop_column("thread_key")
        batch_op.drop_column("normalized_subject")

    with op.batch_alter_table("conversation_reads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_reads_store_id"))
        batch_op.drop_index(batch_op.f("ix_conversation_reads_conversation_id"))
        batch_op.drop_index(batch_op.f("ix_conversation_reads_account_id"))

    op.drop_table("conversation_reads")
    with op.batch_alter_table("knowledge_passages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_passages_store_id"))
        batch_op.drop_index("ix_knowledge_passages_source")
        batch_op.drop_index(batch_op.f("ix_knowledge_passages_item_id"))

    op.drop_table("knowledge_passages")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_store_id"))
        batch_op.drop_index("ix_orders_store_email")

    op.drop_table("orders")
