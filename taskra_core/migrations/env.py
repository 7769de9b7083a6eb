"""Alembic environment: migrations run on a connection Taskra hands in (see db.Database.upgrade)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from taskra_core import models  # noqa: F401  (registers the tables on the metadata)
from taskra_core.db import include_object

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run migrations with `taskra db upgrade`, which supplies the connection.")

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_object=include_object,
)
with context.begin_transaction():
    context.run_migrations()
