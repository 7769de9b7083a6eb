"""staff from Shopify: accounts.shopify_user_id, login_links.purpose

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 14:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("shopify_user_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        # NULLs never collide, so accounts made outside Shopify need no user id.
        batch_op.create_unique_constraint(
            batch_op.f("uq_accounts_store_id_shopify_user_id"), ["store_id", "shopify_user_id"]
        )

    with op.batch_alter_table("login_links", schema=None) as batch_op:
        # Existing links were all sign-in links.
        batch_op.add_column(
            sa.Column(
                "purpose",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                server_default="login",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("login_links", schema=None) as batch_op:
        batch_op.drop_column("purpose")

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_accounts_store_id_shopify_user_id"), type_="unique")
        batch_op.drop_column("shopify_user_id")
