"""The database files themselves, read byte by byte (SQLite: the main file, the WAL and the
shared-memory index): no secret in plain text, no card data anywhere, and nothing of an
erased customer left behind in free pages, old index segments or the write-ahead log."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from starlette.applications import Starlette

from taskra_core.app import Taskra
from taskra_core.inbox.messages import InboundMessage
from taskra_shopify.app import create_app
from tests.conftest import POSTGRES_URL
from tests.fakes.shopify import SHOP, FakeShopify
from tests.shopify.installing import install
from tests.shopify.test_webhooks import _taskra, run_jobs

PASSWORD = "correct horse battery staple 42"
EMAIL = "zelda.erasable@example.com"
MARKER = "capybaragaiters"

sqlite_only = pytest.mark.skipif(
    POSTGRES_URL is not None, reason="reads SQLite's files; PostgreSQL is covered by the SQL checks"
)


@pytest.fixture
async def taskra(database_url: str, fake_shopify: FakeShopify) -> AsyncIterator[Taskra]:
    core = _taskra(database_url, fake_shopify)
    app: Starlette = create_app(core, run_worker=False)
    async with app.router.lifespan_context(app):
        yield core


def database_bytes(taskra: Taskra) -> bytes:
    """Everything SQLite keeps on disk for the database: file, -wal and -shm."""
    path = Path(make_url(taskra.settings.database_url).database or "")
    parts = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return b"".join(p.read_bytes() for p in parts if p.exists())


@sqlite_only
async def test_no_token_or_password_in_plain_text(
    taskra: Taskra, fake_shopify: FakeShopify
) -> None:
    """Shopify's access and refresh tokens are stored encrypted (AES-256-GCM) and passwords
    as bcrypt hashes: none of them appears in the files, though the shop's domain does."""
    store = await install(taskra)
    assert store.id is not None
    await taskra.accounts.create_account(store.id, "ops@example.com", password=PASSWORD)
    await run_jobs(taskra)
    secrets = [*fake_shopify.access_tokens, *fake_shopify.refresh_tokens, PASSWORD]
    assert len(secrets) >= 3
    data = database_bytes(taskra)
    assert SHOP.encode() in data  # the files are readable: the check below can fail
    assert [s for s in secrets if s.encode() in data] == []
    assert re.search(rb"\$2[aby]\$\d\d\$", data)  # the password is there, as bcrypt


async def test_no_table_has_a_card_data_column(taskra: Taskra) -> None:
    """No column anywhere could hold payment card data (number, CVC, expiry) or sensitive
    personal data (health, biometrics, finances beyond invoice amounts)."""
    card = re.compile(
        r"card|\bpan\b|cvv|cvc|exp_(month|year)|expiry|iin|iban|sort_code|account_number"
        r"|health|medical|diagnos|biometric|fingerprint|religion|ethnic",
        re.IGNORECASE,
    )

    def columns(sync: object) -> list[str]:
        inspector = inspect(sync)
        return [
            f"{table}.{column['name']}"
            for table in inspector.get_table_names()
            for column in inspector.get_columns(table)
        ]

    async with taskra.db.engine.connect() as conn:
        found = await conn.run_sync(columns)
    assert len(found) > 50
    assert [c for c in found if card.search(c)] == []


@sqlite_only
async def test_erased_customer_leaves_nothing_in_the_files(taskra: Taskra) -> None:
    """After an erasure (and the scrub job it queues), neither the customer's email nor a
    word of their messages is anywhere in the database files: not in free pages, not in
    the search index's old segments, not in the write-ahead log."""
    store = await install(taskra)
    assert store.id is not None
    for n in range(3):
        await taskra.inbox.receive(
            store.id,
            InboundMessage(
                channel="email",
                from_email=EMAIL,
                from_name="Zelda Erasable",
                subject=f"Order {n}",
                text=f"Do your {MARKER} come in size {n}? " * 20,
            ),
        )
    await run_jobs(taskra)
    before = database_bytes(taskra)
    assert EMAIL.encode() in before
    assert MARKER.encode() in before

    await taskra.privacy.erase(SHOP, EMAIL)
    await run_jobs(taskra)

    after = database_bytes(taskra)
    assert EMAIL.encode() not in after
    assert MARKER.encode() not in after
    assert b"Zelda Erasable" not in after
