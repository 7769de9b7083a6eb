"""Fixtures shared by every test package.

Database tests run on SQLite, or on PostgreSQL when ``TASKRA_TEST_POSTGRES_URL`` is set (CI
runs the whole suite once each way). Each test gets a database of its own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from taskra_core.app import Taskra
from taskra_core.settings import env_var_names
from taskra_core.testing import make_test_taskra
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.resend import FakeResend
from tests.fakes.shopify import FakeShopify

POSTGRES_URL = os.environ.get("TASKRA_TEST_POSTGRES_URL")


@pytest.fixture(autouse=True)
def _no_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's TASKRA_*/provider variables out of tests that read the env."""
    for name in env_var_names().values():
        monkeypatch.delenv(name, raising=False)


async def _create_pg_database(base_url: str) -> str:
    import asyncpg  # type: ignore[import-untyped]

    url = make_url(base_url)
    name = f"taskra_t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database or "postgres",
    )
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return url.set(database=name).render_as_string(hide_password=False)


async def _drop_pg_database(base_url: str, test_url: str) -> None:
    import asyncpg

    url = make_url(base_url)
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database or "postgres",
    )
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{make_url(test_url).database}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    """A URL of an empty database: a fresh SQLite file, or a fresh PostgreSQL database."""
    if POSTGRES_URL:
        url = await _create_pg_database(POSTGRES_URL)
        try:
            yield url
        finally:
            await _drop_pg_database(POSTGRES_URL, url)
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / 'taskra.db'}"


@pytest.fixture
async def taskra(database_url: str) -> AsyncIterator[Taskra]:
    """A started Taskra with only the default plugins, on its own database."""
    core = make_test_taskra(database_url)
    await core.startup()
    try:
        yield core
    finally:
        await core.shutdown()


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    """A running fake Anthropic API with default settings (1024-token cache minimum)."""
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
def fake_shopify() -> Iterator[FakeShopify]:
    """A running fake Shopify (token exchange, rotating refresh, Admin GraphQL on the demo)."""
    with FakeShopify() as fake:
        yield fake


@pytest.fixture
def fake_resend() -> Iterator[FakeResend]:
    """A running fake Resend API (sending), recording what it was sent."""
    with FakeResend() as fake:
        yield fake
