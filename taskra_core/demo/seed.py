"""Seeding the demo: the bundled store, a morning of customer messages as channels would
deliver them (same path, same hooks, so each gets a draft job), and a merchant account with
a one-time login link.

Re-running is safe: the store import is idempotent and each message carries a stable
channel id, so a second run adds nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlmodel import col

from taskra_core.demo import FELLANDFORD
from taskra_core.inbox.messages import InboundMessage
from taskra_core.knowledge.importer import import_store
from taskra_core.models import Account
from taskra_core.stores import get_store

if TYPE_CHECKING:
    from taskra_core.app import Taskra

MESSAGES_FILE = "messages.json"
# The demo's merchant account; example.com is reserved, so no mail can ever reach anyone.
DEMO_OWNER = "owner@fellandford.example.com"
DEMO_LINK_TTL = timedelta(hours=1)


@dataclass(frozen=True)
class DemoSeed:
    domain: str
    store_id: int
    messages_added: int
    login_token: str  # one-time, for GET /login/link/<token>


def demo_as_of(folder: Path = FELLANDFORD) -> datetime:
    """The instant the demo store's data assumes is "now" (its orders' ``as_of``)."""
    raw = json.loads((folder / "customers_orders.json").read_text())["as_of"]
    return datetime.fromisoformat(str(raw).replace("Z", "+00:00"))


def demo_messages(folder: Path = FELLANDFORD) -> list[InboundMessage]:
    data: list[dict[str, Any]] = json.loads((folder / MESSAGES_FILE).read_text())
    return [
        InboundMessage(
            channel=item["channel"],
            from_email=item["from_email"],
            from_name=item.get("from_name"),
            subject=item.get("subject", ""),
            text=item["text"],
            received_at=datetime.fromisoformat(item["received_at"].replace("Z", "+00:00")),
            channel_message_id=f"demo-{n}",
            thread_key=f"demo-chat-{n}" if item["channel"] == "chat" else None,
        )
        for n, item in enumerate(data, 1)
    ]


async def seed_demo(taskra: Taskra, folder: Path = FELLANDFORD) -> DemoSeed:
    """Import the demo store and deliver its sample messages to the inbox."""
    report = await import_store(taskra, folder)
    async with taskra.db.session() as session:
        store = await get_store(session, report.domain)
    assert store.id is not None
    added = 0
    for inbound in demo_messages(folder):
        received = await taskra.inbox.receive(store.id, inbound)
        added += int(received.created)
    async with taskra.db.session() as session:
        owner = await session.scalar(
            select(Account).where(
                col(Account.store_id) == store.id, col(Account.email) == DEMO_OWNER
            )
        )
    if owner is None:
        owner = await taskra.accounts.create_account(
            store.id, DEMO_OWNER, name="Demo merchant", role="merchant"
        )
    token = await taskra.accounts.login_link_token(owner, DEMO_LINK_TTL)
    return DemoSeed(
        domain=report.domain, store_id=store.id, messages_added=added, login_token=token
    )
