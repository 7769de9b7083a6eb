"""No personal data in logs or metrics: a whole conversation (a customer writes in, Claude
drafts through the real SDK against the fake API, the merchant approves, the reply is sent,
the customer's data is exported) with Taskra's logging captured at DEBUG, then /metrics
scraped; neither holds the customer's email, name or any message text."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

import taskra_shopify.plugin
from taskra_core.app import Taskra
from taskra_core.demo import FELLANDFORD
from taskra_core.inbox.messages import InboundMessage
from taskra_core.knowledge.importer import import_store
from taskra_core.logs import PAYLOAD_LOGGERS, configure_logging
from taskra_core.models import Draft
from taskra_core.testing import FakeChannel, FakeChannelPlugin, make_test_taskra
from taskra_shopify.app import create_app
from tests.fakes.anthropic import FakeAnthropic, tool_reply
from tests.fakes.shopify import CLIENT_ID, CLIENT_SECRET, SHOP, FakeShopify, mint_id_token
from tests.shopify.test_webhooks import run_jobs

EMAIL = "ottoline.privateer@example.com"
NAME = "Ottoline Privateer"
QUESTION = "Will the marmosetjacket fit a tall person?"
REPLY = "Hi Ottoline, the marmosetjacket runs long in the body."
TOKEN = "metrics-token-for-tests"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Taskra's own logging as production writes it (JSON lines), at its most verbose
    level (DEBUG), into a buffer."""
    stream = io.StringIO()
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in PAYLOAD_LOGGERS)]
    levels = [logger.level for logger in loggers]
    handler = configure_logging("production", "DEBUG", stream=stream)
    try:
        yield stream
    finally:
        loggers[0].removeHandler(handler)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@pytest.fixture
async def app_client(
    database_url: str, fake_shopify: FakeShopify, fake_anthropic: FakeAnthropic
) -> AsyncIterator[tuple[Taskra, httpx.AsyncClient, FakeChannel]]:
    channel = FakeChannel("email")
    core = make_test_taskra(
        database_url,
        plugins=[FakeChannelPlugin(channel), taskra_shopify.plugin],
        shopify_api_key=CLIENT_ID,
        shopify_api_secret=CLIENT_SECRET,
        shopify_origin=fake_shopify.origin,
        anthropic_api_key="sk-ant-test",
        anthropic_base_url=fake_anthropic.base_url,
        metrics_token=TOKEN,
    )
    app = create_app(core, run_worker=False)
    async with app.router.lifespan_context(app):
        await import_store(core, FELLANDFORD)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://taskra.test") as c:
            yield core, c, channel


async def test_a_conversation_leaves_no_personal_data_in_logs_or_metrics(
    captured: io.StringIO,
    app_client: tuple[Taskra, httpx.AsyncClient, FakeChannel],
    fake_anthropic: FakeAnthropic,
) -> None:
    """Receive, draft (Claude), approve, send, export: the logs and /metrics name no one."""
    taskra, client, channel = app_client
    fake_anthropic.script(
        tool_reply(
            "submit_reply",
            {
                "reply": REPLY,
                "sources": [],
                "intent": "product_question",
                "language": "en",
                "confidence": 0.9,
                "needs_human": False,
            },
        )
    )
    async with taskra.db.session() as session:
        from taskra_core.stores import get_store

        store = await get_store(session, SHOP)
    assert store.id is not None
    await taskra.inbox.receive(
        store.id,
        InboundMessage(
            channel="email", from_email=EMAIL, from_name=NAME, subject="Sizing", text=QUESTION
        ),
    )
    await run_jobs(taskra)
    assert len(fake_anthropic.requests) == 1  # the model really was asked
    async with taskra.db.session() as session:
        draft = (await session.scalars(select(Draft).order_by(col(Draft.id)))).first()
    assert draft is not None
    auth = {"Authorization": f"Bearer {mint_id_token(SHOP)}"}
    approved = await client.post(f"/api/v1/drafts/{draft.id}/approve", json={}, headers=auth)
    assert approved.status_code == 200, approved.text
    await run_jobs(taskra)
    assert [o.text for o in channel.sent] == [REPLY]
    exported = await client.post("/api/v1/privacy/exports", json={"email": EMAIL}, headers=auth)
    assert exported.status_code == 201
    metrics = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert metrics.status_code == 200

    logs = captured.getvalue()
    assert logs.count("\n") >= 5  # the flow was logged
    assert '"job_id"' in logs
    for text in (logs, metrics.text):
        lowered = text.lower()
        for secret in (EMAIL, NAME, "ottoline", "privateer", "marmosetjacket", QUESTION, REPLY):
            assert secret.lower() not in lowered, secret
