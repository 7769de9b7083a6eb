"""Tests for taskra_core.rotation: re-encrypting every *_enc column under the primary key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import SQLModel

from taskra_core.crypto import TokenCipher, key_id, secret_context
from taskra_core.db import Database
from taskra_core.errors import DecryptionError
from taskra_core.models import Store
from taskra_core.rotation import RotationReport, encrypted_tables, rotate_stored_secrets

OLD = bytes(range(32))
NEW = bytes(range(100, 132))
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'taskra.db'}")
    await database.upgrade()
    yield database
    await database.dispose()


def _access(row_id: int) -> str:
    return f"shpat_access_{row_id}"


def _refresh(row_id: int) -> str:
    return f"shprt_refresh_{row_id}"


async def _insert_stores(
    db: Database, cipher: TokenCipher, ids: range, *, refresh: bool = True
) -> None:
    async with db.transaction() as session:
        for row_id in ids:
            session.add(
                Store(
                    id=row_id,
                    domain=f"shop-{row_id}.myshopify.com",
                    access_token_enc=cipher.encrypt(
                        _access(row_id),
                        context=secret_context("stores", "access_token_enc", row_id),
                    ),
                    refresh_token_enc=cipher.encrypt(
                        _refresh(row_id),
                        context=secret_context("stores", "refresh_token_enc", row_id),
                    )
                    if refresh
                    else None,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )


async def _tokens(db: Database) -> dict[int, tuple[str | None, str | None]]:
    # Core through the session's connection: raw column values, whatever the session class.
    stores = SQLModel.metadata.tables["stores"]
    query = select(stores.c.id, stores.c.access_token_enc, stores.c.refresh_token_enc)
    async with db.session() as session:
        conn = await session.connection()
        rows = (await conn.execute(query.order_by(stores.c.id))).all()
    return {row[0]: (row[1], row[2]) for row in rows}


def _assert_readable_with_new_key_only(tokens: dict[int, tuple[str | None, str | None]]) -> None:
    cipher = TokenCipher(NEW)
    for row_id, (access, refresh) in tokens.items():
        assert access is not None
        context = secret_context("stores", "access_token_enc", row_id)
        assert cipher.decrypt(access, context=context) == _access(row_id)
        if refresh is not None:
            context = secret_context("stores", "refresh_token_enc", row_id)
            assert cipher.decrypt(refresh, context=context) == _refresh(row_id)


def test_encrypted_tables_finds_store_token_columns() -> None:
    """The *_enc convention discovers both token columns of the stores table."""
    found = {
        table.name: [column.name for column in columns] for table, columns in encrypted_tables()
    }
    assert found["stores"] == ["access_token_enc", "refresh_token_enc"]


async def test_rotation_moves_every_secret_to_the_new_key(db: Database) -> None:
    """Old-key values, across several batches, all end up readable by the new key alone."""
    await _insert_stores(db, TokenCipher(OLD), range(1, 6))
    await _insert_stores(db, TokenCipher(OLD), range(6, 8), refresh=False)
    await _insert_stores(db, TokenCipher(NEW), range(8, 9))
    progress: list[int] = []

    report = await rotate_stored_secrets(
        db, TokenCipher(NEW, [OLD]), batch_size=3, on_progress=progress.append
    )

    # 5 rows x 2 + 2 rows x 1 under the old key; 1 row x 2 already under the new one.
    assert report == RotationReport(examined=14, rotated=12)
    assert progress == [6, 11, 14]  # rows 1-3, 4-6, 7-8
    tokens = await _tokens(db)
    assert len(tokens) == 8
    _assert_readable_with_new_key_only(tokens)
    assert all(
        token is None or token.startswith(f"v1.{key_id(NEW)}.")
        for pair in tokens.values()
        for token in pair
    )


async def test_second_rotation_rotates_nothing(db: Database) -> None:
    """Rotation is idempotent: a second run examines the same values and rewrites none."""
    await _insert_stores(db, TokenCipher(OLD), range(1, 5))
    cipher = TokenCipher(NEW, [OLD])
    first = await rotate_stored_secrets(db, cipher, batch_size=2)
    after_first = await _tokens(db)

    second = await rotate_stored_secrets(db, cipher, batch_size=2)

    assert first == RotationReport(examined=8, rotated=8)
    assert second == RotationReport(examined=8, rotated=0)
    assert await _tokens(db) == after_first


async def test_empty_database_rotates_nothing(db: Database) -> None:
    """With no stored secrets, rotation reports zero and never calls on_progress."""
    progress: list[int] = []
    report = await rotate_stored_secrets(db, TokenCipher(NEW), on_progress=progress.append)
    assert report == RotationReport(examined=0, rotated=0)
    assert progress == []


async def test_undecryptable_value_fails_and_leaves_its_batch_unchanged(db: Database) -> None:
    """A corrupted ciphertext raises DecryptionError; its batch and later ones stay as they were."""
    await _insert_stores(db, TokenCipher(OLD), range(1, 7))
    before = await _tokens(db)
    access = before[4][0]
    assert access is not None
    # Change one payload character: still a well-formed token, but the tag no longer matches.
    replacement = "A" if access[-10] != "A" else "B"
    corrupted = access[:-10] + replacement + access[-9:]
    assert corrupted != access
    async with db.transaction() as session:
        store = await session.get(Store, 4)
        assert store is not None
        store.access_token_enc = corrupted
    before[4] = (corrupted, before[4][1])

    with pytest.raises(DecryptionError, match="failed authentication"):
        await rotate_stored_secrets(db, TokenCipher(NEW, [OLD]), batch_size=2)

    after = await _tokens(db)
    # Batch 1 (rows 1-2) committed before the failure; rows 3-6 were never rewritten.
    _assert_readable_with_new_key_only({row_id: after[row_id] for row_id in (1, 2)})
    for row_id in range(3, 7):
        assert after[row_id] == before[row_id]


async def test_value_under_unknown_key_fails_rotation(db: Database) -> None:
    """A value sealed by a key the cipher does not hold stops rotation with a helpful error."""
    await _insert_stores(db, TokenCipher(OLD), range(1, 3))
    before = await _tokens(db)

    with pytest.raises(DecryptionError, match="TASKRA_PREVIOUS_SECRET_KEYS"):
        await rotate_stored_secrets(db, TokenCipher(NEW), batch_size=10)

    assert await _tokens(db) == before
