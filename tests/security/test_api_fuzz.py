"""The JSON API fuzzed from its own OpenAPI document (schemathesis), with valid session tokens,
against a real ``taskra serve`` holding the demo store: whatever the generated input, no
request gets a 5xx, and every answer has a declared status and content type and matches the
declared schema (errors are ``{"error": {"type", "message"}}``)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from taskra_core.demo import FELLANDFORD
from taskra_core.knowledge.importer import import_store
from taskra_core.testing import make_test_taskra
from tests.conftest import POSTGRES_URL, _create_pg_database, _drop_pg_database
from tests.fakes.resend import FakeResend
from tests.fakes.shopify import CLIENT_ID, CLIENT_SECRET, SHOP, FakeShopify, mint_id_token
from tests.reliability.processes import Server

pytestmark = pytest.mark.fuzz
EXAMPLES = int(os.environ.get("TASKRA_FUZZ_EXAMPLES", "12"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


async def _prepare(url: str) -> None:
    async with make_test_taskra(url) as core:
        await import_store(core, FELLANDFORD)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One ``taskra serve`` for the whole module, on its own database, with fake Shopify
    (token exchange for the session tokens) and fake Resend."""
    tmp = tmp_path_factory.mktemp("fuzz")
    url = (
        asyncio.run(_create_pg_database(POSTGRES_URL))
        if POSTGRES_URL
        else f"sqlite+aiosqlite:///{tmp / 'fuzz.db'}"
    )
    asyncio.run(_prepare(url))
    with FakeShopify() as shopify, FakeResend() as resend:
        process = Server(
            {
                "TASKRA_DATABASE_URL": url,
                "TASKRA_LOG_LEVEL": "WARNING",
                "TASKRA_REPLY_MODEL": "offline",
                "SHOPIFY_API_KEY": CLIENT_ID,
                "SHOPIFY_API_SECRET": CLIENT_SECRET,
                "TASKRA_SHOPIFY_ORIGIN": shopify.origin,
                "RESEND_API_KEY": "re_fuzz",
                "RESEND_API_URL": resend.url,
                "TASKRA_EMAIL_FROM": "Fuzz <fuzz@taskra.test>",
                "TASKRA_EVENTS_STREAM_SECONDS": "0.5",
            },
            Path(tmp / "serve.log"),
        )
        process.start()
        try:
            yield process
        finally:
            process.stop()
            if POSTGRES_URL:
                asyncio.run(_drop_pg_database(POSTGRES_URL, url))


def _operations(server: Server) -> list[Any]:
    loaded = schemathesis.openapi.from_url(f"{server.url}/api/v1/openapi.json")
    return [result.ok() for result in loaded.get_all_operations()]


def test_no_generated_request_gets_a_server_error_or_an_undeclared_answer(
    server: Server,
) -> None:
    """Every operation, EXAMPLES generated requests each (TASKRA_FUZZ_EXAMPLES, 12 by
    default, derandomized so a failure reproduces); failures are collected per operation."""
    operations = _operations(server)
    assert len(operations) >= 30
    failures: list[str] = []
    for operation in operations:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            case.call_and_validate(
                base_url=server.url,
                headers={"Authorization": f"Bearer {mint_id_token(SHOP)}"},
                checks=CHECKS,
                timeout=30,
            )

        try:
            run()
        except Exception as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:2000])
    assert not failures, "\n\n".join(failures)
