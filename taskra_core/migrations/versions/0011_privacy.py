"""privacy: request ledger outcome and subject-data exports

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 13:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import taskra_core.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("privacy_requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
    op.create_table(
        "privacy_exports",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("store_id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=True),
        sa.Column("request_id", _ID, nullable=True),
        sa.Column("data", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("sealed", sa.Boolean(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", taskra_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", taskra_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_privacy_exports_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_privacy_exports_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["privacy_requests.id"],
            name=op.f("fk_privacy_exports_request_id_privacy_requests"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_exports")),
    )
    with op.batch_alter_table("privacy_exports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_privacy_exports_store_id"), ["store_id"])
        batch_op.create_index(batch_op.f("ix_privacy_exports_customer_id"), ["customer_id"])
        batch_op.create_index(batch_op.f("ix_privacy_exports_request_id"), ["request_id"])
        batch_op.create_index(batch_op.f("ix_privacy_exports_expires_at"), ["expires_at"])


def downgrade() -> None:
    op.drop_table("privacy_exports")
    with op.batch_alter_table("privacy_requests", schema=None) as batch_op:
        batch_op.drop_column("outcome")
