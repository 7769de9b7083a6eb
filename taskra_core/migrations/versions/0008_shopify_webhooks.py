"""shopify webhooks: receipts keep payload, status and API version; event ids dedupe per shop

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import taskra_core.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_receipts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("api_version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
        # Receipts written before this revision were never dispatched by a handler.
        batch_op.add_column(
            sa.Column(
                "status",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                server_default="done",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(
            sa.Column("payload", sa.JSON(), server_default=sa.text("'{}'"), nullable=False)
        )
        batch_op.add_column(
            sa.Column("processed_at", taskra_core.db.UTCDateTime(timezone=True), nullable=True)
        )
        # The unique constraint below serves every (store-scoped) lookup by event id, so
        # the plain index would only slow down inserts.
        batch_op.drop_index(batch_op.f("ix_webhook_receipts_event_id"))
        batch_op.create_unique_constraint(
            batch_op.f("uq_webhook_receipts_source_shop_domain_event_id"),
            ["source", "shop_domain", "event_id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_receipts", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_webhook_receipts_source_shop_domain_event_id"), type_="unique"
        )
        batch_op.create_index(
            batch_op.f("ix_webhook_receipts_event_id"), ["event_id"], unique=False
        )
        batch_op.drop_column("processed_at")
        batch_op.drop_column("payload")
        batch_op.drop_column("error")
        batch_op.drop_column("status")
        batch_op.drop_column("api_version")
