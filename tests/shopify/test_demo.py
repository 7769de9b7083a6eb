"""`taskra demo`: the bundled store, a morning of messages, drafted offline with no keys."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlmodel import col

from taskra_core.demo.seed import demo_as_of, demo_messages, seed_demo
from taskra_core.models import Draft, Message
from taskra_core.testing import make_test_taskra
from taskra_shopify.app import create_app
from tests.core.test_cli import taskra


async def test_demo_seeds_drafts_and_is_repeatable(database_url: str) -> None:
    """With nothing but a database URL, every sample message is stored and drafted once;
    running it again adds nothing. The risky ones go to a person."""
    env = {"TASKRA_DATABASE_URL": database_url}
    first = taskra("demo", "--no-serve", **env)
    count = len(demo_messages())
    assert f"{count} new customer messages" in first.stdout
    assert "offline model" in first.stdout
    again = taskra("demo", "--no-serve", **env)
    assert "0 new customer messages" in again.stdout
    async with make_test_taskra(database_url) as core, core.db.session() as session:
        messages = (await session.scalars(select(Message))).all()
        drafts = {
            d.message_id: d for d in (await session.scalars(select(Draft).order_by(col(Draft.id))))
        }
    assert len(messages) == count
    assert set(drafts) == {m.id for m in messages}
    by_subject = {m.meta.get("subject", ""): drafts[m.id] for m in messages}
    reasons = {subject: " ".join(draft.escalation_reasons) for subject, draft in by_subject.items()}
    assert "chargeback" in reasons.get("THIRD TIME ASKING", "")
    assert "identity_mismatch" in reasons.get("Change address on order 1009", "")
    assert by_subject["Headtorch batteries"].state == "drafted"


async def test_demo_login_link_signs_in_once_to_a_standalone_page(database_url: str) -> None:
    """The demo's one-time link sets the session cookie; the standalone inbox then shows the
    signed-in merchant and the seeded conversations and cannot be framed; without the cookie
    it sends you to /login."""
    core = make_test_taskra(database_url, now=demo_as_of())
    async with core:
        seed = await seed_demo(core)
        transport = httpx.ASGITransport(app=create_app(core, run_worker=False))
        async with httpx.AsyncClient(transport=transport, base_url="https://demo.test") as web:
            anonymous = await web.get("/")
            assert anonymous.status_code == 303
            assert anonymous.headers["location"] == "/login"
            signed_in = await web.get(f"/login/link/{seed.login_token}")
            assert signed_in.status_code == 303
            assert "taskra_session" in web.cookies  # the client keeps it, as a browser would
            home = await web.get("/")
            assert home.status_code == 200
            assert '<span class="who">owner@fellandford.example.com</span>' in home.text
            assert home.text.count('<li class="conversation') == seed.messages_added
            assert home.headers["Content-Security-Policy"] == "frame-ancestors 'none';"
            web.cookies.clear()
            reused = await web.get(f"/login/link/{seed.login_token}")
            assert reused.status_code == 401
