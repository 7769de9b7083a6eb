"""The database layer: migrations match the models, SQLite tuning, UTC timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

from taskra_core import models
from taskra_core.db import Database, head_revision, include_object
from taskra_core.errors import DatabaseError
from taskra_core.models import Store
from taskra_core.testing import make_test_taskra


async def test_migrations_match_the_models(database_url: str) -> None:
    """After `upgrade`, Alembic finds no difference between the schema and the models."""
    db = Database.from_url(database_url)
    try:
        await db.upgrade()
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(
                        sync, opts={"compare_type": True, "include_object": include_object}
                    ),
                    SQLModel.metadata,
                )
            )
        assert diff == []
        assert await db.current_revision() == head_revision()
        await db.upgrade()  # a second run is a no-op
        assert await db.current_revision() == head_revision()
    finally:
        await db.dispose()


async def test_every_core_table_exists_after_upgrade(database_url: str) -> None:
    """The core schema of DESIGN section 3 is all there."""
    assert models.Store.__tablename__ == "stores"
    expected = {
        "stores",
        "accounts",
        "customers",
        "conversations",
        "messages",
        "drafts",
        "knowledge_items",
        "usage",
        "privacy_requests",
        "billing_records",
        "jobs",
        "webhook_receipts",
    }
    db = Database.from_url(database_url)
    try:
        await db.upgrade()
        async with db.engine.connect() as conn:
            names = await conn.run_sync(lambda sync: set(sync.dialect.get_table_names(sync)))
        assert expected <= names
    finally:
        await db.dispose()


async def test_sqlite_connections_are_tuned(tmp_path: object) -> None:
    """SQLite runs in WAL mode with synchronous=NORMAL, foreign keys and a busy timeout."""
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path}/t.db")
    try:
        async with db.engine.connect() as conn:
            values = [
                (await conn.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            ]
        assert values == ["wal", 1, 1, 30000]
    finally:
        await db.dispose()


async def test_timestamps_come_back_as_aware_utc(database_url: str) -> None:
    """A datetime in any zone is stored and read back as the same instant, in UTC."""
    async with make_test_taskra(database_url) as taskra:
        local = datetime(2025, 3, 17, 11, 0, tzinfo=timezone(timedelta(hours=1)))
        async with taskra.db.transaction() as session:
            session.add(Store(domain="a.myshopify.com", created_at=local, updated_at=local))
        async with taskra.db.session() as session:
            store = (await session.execute(text("SELECT id FROM stores"))).scalar_one()
            loaded = await session.get(Store, store)
        assert loaded is not None
        assert loaded.created_at == datetime(2025, 3, 17, 10, 0, tzinfo=UTC)
        assert loaded.created_at.tzinfo is not None


async def test_naive_datetimes_are_refused(database_url: str) -> None:
    """A naive datetime is a bug (which zone?), so storing one fails instead of guessing."""
    async with make_test_taskra(database_url) as taskra:
        with pytest.raises(Exception, match="naive datetime"):
            async with taskra.db.transaction() as session:
                naive = datetime(2025, 3, 17, 10, 0)
                session.add(Store(domain="b.myshopify.com", created_at=naive, updated_at=naive))


async def test_startup_without_auto_migrate_requires_an_upgraded_schema(database_url: str) -> None:
    """With TASKRA_AUTO_MIGRATE off, an empty database stops start-up with what to run."""
    taskra = make_test_taskra(database_url, auto_migrate=False)
    with pytest.raises(DatabaseError, match="taskra db upgrade"):
        await taskra.startup()
    await taskra.db.upgrade()
    await taskra.startup()
    assert taskra.started
    await taskra.shutdown()
