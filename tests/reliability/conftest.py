"""Fixtures of the reliability suite: the environment real ``taskra`` processes run with."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from taskra_core.demo import FELLANDFORD
from taskra_core.knowledge.importer import import_store
from taskra_core.testing import make_test_taskra
from tests.fakes.resend import FakeResend
from tests.fakes.shopify import CLIENT_ID, CLIENT_SECRET

DOMAIN = "in.taskra.test"
EMAIL_SECRET = "reliability-inbound-secret-0123456789abcdef"
STORE = "fellandford.myshopify.com"


@pytest.fixture
def fake_resend_server() -> Iterator[FakeResend]:
    with FakeResend() as fake:
        yield fake


@pytest.fixture
async def env(database_url: str, fake_resend_server: FakeResend, tmp_path: Path) -> dict[str, str]:
    """The environment of every process: the test's database holding the demo store (every
    reply auto-sent), fakes for Resend, offline drafting, short job leases."""
    core = make_test_taskra(database_url)
    async with core:
        await import_store(core, FELLANDFORD)
        await core.drafting.set_autonomy(STORE, "auto_send")
    return {
        "TASKRA_DATABASE_URL": database_url,
        "TASKRA_ENV": "development",
        "TASKRA_LOG_LEVEL": "WARNING",
        "TASKRA_REPLY_MODEL": "offline",
        "SHOPIFY_API_KEY": CLIENT_ID,
        "SHOPIFY_API_SECRET": CLIENT_SECRET,
        "TASKRA_EMAIL_INBOUND_DOMAIN": DOMAIN,
        "TASKRA_EMAIL_INBOUND_SECRET": EMAIL_SECRET,
        "RESEND_API_KEY": "re_reliability",
        "RESEND_API_URL": fake_resend_server.url,
        "TASKRA_EMAIL_FROM": "Replies <replies@taskra.test>",
        # A killed worker's jobs are taken over once their lease lapses.
        "TASKRA_JOB_LEASE_SECONDS": "3",
        "TASKRA_JOB_BACKOFF_BASE_SECONDS": "0.2",
        "TASKRA_JOB_BACKOFF_MAX_SECONDS": "1",
        "TASKRA_WORKER_POLL_SECONDS": "0.1",
        "TASKRA_WORKER_SHUTDOWN_GRACE_SECONDS": "1",
    }
