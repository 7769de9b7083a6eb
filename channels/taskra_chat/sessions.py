"""Chat visitor sessions: a random token kept in the visitor's browser, bound to one store.

The app proxy forwards no cookies, so the widget keeps the token in ``localStorage`` and
sends it in each request body; the database holds only its SHA-256. A session started by a
logged-in customer serves only that customer, and an anonymous one only anonymous requests:
logging in or out starts a new conversation, so a shared computer never shows one shopper's
chat to the next.

Who the visitor is, for the inbox (whose customers are keyed by email):

- a logged-in customer (``logged_in_customer_id``, vouched for by Shopify's signature) is
  ``shopify-customer-<id>@chat.invalid`` until we know better, and their messages carry
  ``meta["storefront_customer"]`` so order questions are answered for their own orders;
- an anonymous visitor is ``visitor-<public id>@chat.invalid`` until they give an email.

``.invalid`` is reserved (RFC 2606) and can never be delivered to: these placeholders are
never emailed, and chat replies go back through the widget, not by email.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from taskra_core.errors import ChatSessionUnknown
from taskra_core.models import ChatSession

PLACEHOLDER_DOMAIN = "chat.invalid"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_placeholder(email: str) -> bool:
    """True for an address this channel made up (see the module docstring)."""
    return email.lower().endswith(f"@{PLACEHOLDER_DOMAIN}")


def visitor_email(row: ChatSession) -> str:
    """The address the inbox files this visitor's messages under."""
    if row.email:
        return row.email
    if row.shopify_customer_id:
        return f"shopify-customer-{row.shopify_customer_id}@{PLACEHOLDER_DOMAIN}"
    return f"visitor-{row.public_id}@{PLACEHOLDER_DOMAIN}"


def customer_gid(customer_id: str) -> str:
    """Shopify's GraphQL id of a storefront customer, as orders name their customer."""
    return f"gid://shopify/Customer/{customer_id}"


async def start_session(
    session: AsyncSession, store_id: int, customer_id: str | None, now: datetime
) -> tuple[ChatSession, str]:
    """A new session of ``store_id`` and the token to hand to the browser (shown once)."""
    token = secrets.token_urlsafe(32)
    row = ChatSession(
        store_id=store_id,
        public_id=uuid.uuid4().hex,
        token_hash=token_hash(token),
        shopify_customer_id=customer_id,
        created_at=now,
        last_seen_at=now,
    )
    session.add(row)
    await session.flush()
    return row, token


async def find_session(
    session: AsyncSession, store_id: int, token: str, customer_id: str | None
) -> ChatSession:
    """The session of ``token`` in ``store_id`` for this caller, or :class:`ChatSessionUnknown`."""
    if not _TOKEN.match(token):
        raise ChatSessionUnknown("This chat session is unknown; start a new conversation.")
    row = (
        await session.scalars(
            select(ChatSession).where(
                col(ChatSession.token_hash) == token_hash(token),
                col(ChatSession.store_id) == store_id,
            )
        )
    ).first()
    if row is None or row.shopify_customer_id != customer_id:
        raise ChatSessionUnknown("This chat session is unknown; start a new conversation.")
    return row
