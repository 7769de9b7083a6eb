"""retention: indexes that let the sweeps find expired rows without scanning

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 13:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, index, columns). Each sweep selects a batch of ids by an age column; without an
# index that select reads the whole table once per batch. Messages already have
# (store_id, created_at), and billing records an index on occurred_at.
INDEXES = [
    ("customers", "ix_customers_store_updated", ["store_id", "updated_at"]),
    ("jobs", "ix_jobs_finished", ["state", "finished_at"]),
    ("webhook_receipts", "ix_webhook_receipts_received_at", ["received_at"]),
    ("account_sessions", "ix_account_sessions_expires_at", ["expires_at"]),
    ("login_links", "ix_login_links_expires_at", ["expires_at"]),
    ("login_failures", "ix_login_failures_failed_at", ["failed_at"]),
]


def upgrade() -> None:
    for table, name, columns in INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    for table, name, _columns in reversed(INDEXES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
