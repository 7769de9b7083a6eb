"""chat channel: visitor sessions and rate limits

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 13:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import taskra_core.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "chat_sessions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("store_id", BIG_ID, nullable=False),
        sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column(
            "shopify_customer_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
        ),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("created_at", taskra_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", taskra_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_chat_sessions_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_sessions")),
        sa.UniqueConstraint("public_id", name=op.f("uq_chat_sessions_public_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_chat_sessions_token_hash")),
    )
    with op.batch_alter_table("chat_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chat_sessions_store_id"), ["store_id"], unique=False)

    op.create_table(
        "chat_rate_counters",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("store_id", BIG_ID, nullable=False),
        sa.Column("bucket", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("window_start", taskra_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_chat_rate_counters_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_rate_counters")),
        sa.UniqueConstraint(
            "store_id",
            "bucket",
            "window_start",
            name=op.f("uq_chat_rate_counters_store_id_bucket_window_start"),
        ),
    )
    with op.batch_alter_table("chat_rate_counters", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chat_rate_counters_store_id"), ["store_id"], unique=False
        )
        batch_op.create_index("ix_chat_rate_counters_window", ["window_start"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("chat_rate_counters", schema=None) as batch_op:
        batch_op.drop_index("ix_chat_rate_counters_window")
        batch_op.drop_index(batch_op.f("ix_chat_rate_counters_store_id"))
    op.drop_table("chat_rate_counters")
    with op.batch_alter_table("chat_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_sessions_store_id"))
    op.drop_table("chat_sessions")
