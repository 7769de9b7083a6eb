"""drafting: proposals, verification, outcomes and failures on drafts; profile freshness

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 07:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import taskra_core.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("proposals", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.add_column(
            sa.Column("needs_verification", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(
            sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
        batch_op.add_column(
            sa.Column("final_text", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("decided_at", taskra_core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_drafts_message", ["store_id", "message_id"], unique=False)
        batch_op.create_index("ix_drafts_intent", ["store_id", "intent", "outcome"], unique=False)

    with op.batch_alter_table("knowledge_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_knowledge_items_kind", ["store_id", "kind", "updated_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("knowledge_items", schema=None) as batch_op:
        batch_op.drop_index("ix_knowledge_items_kind")
    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.drop_index("ix_drafts_intent")
        batch_op.drop_index("ix_drafts_message")
        for column in (
            "decided_at",
            "final_text",
            "outcome",
            "error",
            "needs_verification",
            "proposals",
        ):
            batch_op.drop_column(column)
