"""Storefront chat as inbox traffic: a visitor's message enters the inbox like any channel's
(so drafting, autonomy, budget and hooks apply unchanged), and the visitor reads back their
own conversation: their messages and the replies stored for it (AI or agent), never notes.

Replies reach the browser by the widget asking for messages newer than the last it has;
:meth:`Chat.wait` holds that request open until there is something new (long polling), so a
stored reply shows within ``TASKRA_CHAT_POLL_SECONDS`` plus a round trip.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from taskra_chat import limits, sessions
from taskra_chat.proxy import ProxyCaller
from taskra_core.errors import InvalidInput, NotFound
from taskra_core.inbox.messages import InboundMessage, normalize_email
from taskra_core.models import ChatSession, Conversation, Customer, Message, Store

if TYPE_CHECKING:
    from taskra_core.app import Taskra

CHANNEL = "chat"
MAX_BATCH = 200
_CLIENT_ID = re.compile(r"^[A-Za-z0-9-]{8,64}$")
VISITOR_LIMITED = (
    "You're sending messages faster than we can read them. Please wait a minute and try again."
)
STORE_LIMITED = "We're receiving a lot of messages right now. Please try again in a minute."


@dataclass(frozen=True)
class ChatMessage:
    """One message as the visitor sees it: ``sender`` is ``visitor``, ``ai`` or ``agent``."""

    id: int
    sender: str
    text: str
    at: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "sender": self.sender, "text": self.text, "at": self.at}


@dataclass(frozen=True)
class Transcript:
    """New messages of the visitor's conversation and who is answering.

    ``status``: ``ai`` (the assistant answers), ``waiting`` (handed to a person, who has not
    replied yet) or ``human`` (a person has taken over). ``ask_email``: the visitor is
    anonymous and has given no email yet.
    """

    messages: list[ChatMessage] = field(default_factory=list)
    status: str = "ai"
    ask_email: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages": [m.as_dict() for m in self.messages],
            "status": self.status,
            "ask_email": self.ask_email,
        }


@dataclass(frozen=True)
class Posted:
    """A stored visitor message; ``token`` is set when this message started the session."""

    message: ChatMessage
    token: str | None


class Chat:
    """The chat channel's operations; each takes a verified :class:`ProxyCaller`."""

    def __init__(self, taskra: Taskra) -> None:
        self.taskra = taskra

    async def store_id(self, caller: ProxyCaller) -> int:
        """The installed store the proxy request came from, or :class:`NotFound`."""
        async with self.taskra.db.session() as session:
            store = (
                await session.scalars(select(Store).where(col(Store.domain) == caller.shop))
            ).first()
        if store is None or store.id is None or store.uninstalled_at is not None:
            raise NotFound("Chat is not available for this shop.")
        return store.id

    async def post(
        self,
        caller: ProxyCaller,
        token: str | None,
        text: str,
        *,
        client_id: str | None = None,
        email: str | None = None,
        client: str | None = None,
    ) -> Posted:
        """Store a visitor's message in the inbox, starting a session if ``token`` is None.

        Counted against the visitor's, the client's and the store's rate limits first; a
        refused message changes nothing. ``client_id`` (the widget's id for the message)
        makes a retried request store the message once.
        """
        settings = self.taskra.settings
        text = text.strip()
        if not text:
            raise InvalidInput("Write a message first.")
        if len(text) > settings.chat_max_message_chars:
            raise InvalidInput(
                f"Messages can be at most {settings.chat_max_message_chars} characters long."
            )
        if client_id is not None and not _CLIENT_ID.match(client_id):
            raise InvalidInput("The message id must be 8 to 64 letters, digits or dashes.")
        address = normalize_email(email) if email else None
        store_id = await self.store_id(caller)
        now = self.taskra.clock.now()
        new_token: str | None = None
        async with self.taskra.db.transaction() as session:
            if token is None:
                row, new_token = await sessions.start_session(
                    session, store_id, caller.customer_id, now
                )
            else:
                row = await sessions.find_session(session, store_id, token, caller.customer_id)
            await limits.count(
                session, self.taskra.db.dialect, store_id, self._limits(row, client), now
            )
            row.last_seen_at = now
            if address and not row.shopify_customer_id and address != row.email:
                row.email = address
                await self._refile(session, store_id, row, address, now)
            inbound = _inbound(row, text, client_id)
        received = await self.taskra.inbox.receive(store_id, inbound)
        stored = received.message
        assert stored.id is not None
        return Posted(
            ChatMessage(stored.id, "visitor", stored.text, stored.created_at.isoformat()),
            new_token,
        )

    async def give_email(self, caller: ProxyCaller, token: str, email: str) -> Transcript:
        """An anonymous visitor's email: their conversation is filed under it from now on.
        It is not verified, so it never unlocks order details (see ``sender_of``)."""
        address = normalize_email(email)
        store_id = await self.store_id(caller)
        now = self.taskra.clock.now()
        async with self.taskra.db.transaction() as session:
            row = await sessions.find_session(session, store_id, token, caller.customer_id)
            if row.shopify_customer_id:
                raise InvalidInput("You are signed in to the store, so we know who you are.")
            row.email, row.last_seen_at = address, now
            await self._refile(session, store_id, row, address, now)
        return await self.read(caller, token, after=0)

    async def read(self, caller: ProxyCaller, token: str, after: int) -> Transcript:
        """The visitor's messages with an id above ``after`` and the conversation's status."""
        store_id = await self.store_id(caller)
        async with self.taskra.db.session() as session:
            row = await sessions.find_session(session, store_id, token, caller.customer_id)
            return await _transcript(session, row, after)

    async def wait(
        self,
        caller: ProxyCaller,
        token: str,
        after: int,
        status: str | None,
        gone: Callable[[], Awaitable[bool]] | None = None,
    ) -> Transcript:
        """Like :meth:`read`, but held up to ``TASKRA_CHAT_WAIT_SECONDS`` until there is a
        new message or the status differs from ``status`` (or ``gone()`` says the visitor left)."""
        settings = self.taskra.settings
        store_id = await self.store_id(caller)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.chat_wait_seconds
        async with self.taskra.db.session() as session:
            row = await sessions.find_session(session, store_id, token, caller.customer_id)
        while True:
            async with self.taskra.db.session() as session:
                found = await _transcript(session, row, after)
            if found.messages or found.status != status or loop.time() >= deadline:
                return found
            if gone is not None and await gone():
                return found
            await asyncio.sleep(min(settings.chat_poll_seconds, deadline - loop.time()))

    def _limits(self, row: ChatSession, client: str | None) -> list[limits.Limit]:
        settings = self.taskra.settings
        found = [
            limits.Limit(
                f"visitor:{row.public_id}",
                settings.chat_visitor_messages_per_minute,
                VISITOR_LIMITED,
            )
        ]
        if client:
            secret = settings.shopify_api_secret or settings.secret_key
            key = secret.get_secret_value().encode() if secret is not None else b""
            found.append(
                limits.Limit(
                    limits.client_bucket(client, key),
                    settings.chat_client_messages_per_minute,
                    VISITOR_LIMITED,
                )
            )
        found.append(limits.Limit("store", settings.chat_store_messages_per_minute, STORE_LIMITED))
        return found

    async def _refile(
        self, session: AsyncSession, store_id: int, row: ChatSession, address: str, now: Any
    ) -> None:
        """Move the session's conversation (if it has one yet) to the customer ``address``."""
        conversation = await _conversation(session, row)
        if conversation is None:
            return
        table = Customer.__table__  # type: ignore[attr-defined]
        insert = pg_insert if self.taskra.db.dialect == "postgresql" else sqlite_insert
        await session.execute(
            insert(table)
            .values(
                store_id=store_id,
                email=address,
                ai_processing_objected=False,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["store_id", "email"])
        )
        customer_id = (
            await session.execute(
                select(col(Customer.id)).where(
                    col(Customer.store_id) == store_id, col(Customer.email) == address
                )
            )
        ).scalar_one()
        assert customer_id is not None
        conversation.customer_id = customer_id
        conversation.updated_at = now


def _inbound(row: ChatSession, text: str, client_id: str | None) -> InboundMessage:
    meta: dict[str, Any] = {"chat_session": row.public_id}
    if row.shopify_customer_id:
        meta["storefront_customer"] = {"id": sessions.customer_gid(row.shopify_customer_id)}
    elif row.email:
        meta["email_unverified"] = True
    return InboundMessage(
        channel=CHANNEL,
        from_email=sessions.visitor_email(row),
        text=text,
        # No subject: chat threads by session only, never by sender + subject.
        subject="",
        thread_key=row.public_id,
        channel_message_id=f"{row.public_id}:{client_id}" if client_id else None,
        metadata=meta,
    )


async def _conversation(session: AsyncSession, row: ChatSession) -> Conversation | None:
    return (
        await session.scalars(
            select(Conversation).where(
                col(Conversation.store_id) == row.store_id,
                col(Conversation.channel) == CHANNEL,
                col(Conversation.thread_key) == row.public_id,
            )
        )
    ).first()


async def _transcript(session: AsyncSession, row: ChatSession, after: int) -> Transcript:
    ask_email = not row.shopify_customer_id and not row.email
    conversation = await _conversation(session, row)
    if conversation is None:
        return Transcript([], "ai", ask_email)
    rows = await session.scalars(
        select(Message)
        .where(
            col(Message.store_id) == row.store_id,
            col(Message.conversation_id) == conversation.id,
            col(Message.direction).in_(("inbound", "outbound")),
            col(Message.id) > after,
        )
        .order_by(col(Message.id))
        .limit(MAX_BATCH)
    )
    messages = [
        ChatMessage(
            m.id,  # type: ignore[arg-type]
            "visitor" if m.direction == "inbound" else ("agent" if m.author == "agent" else "ai"),
            m.text,
            m.created_at.isoformat(),
        )
        for m in rows
    ]
    human = conversation.assignee_id is not None or bool(
        await session.scalar(
            select(
                exists().where(
                    col(Message.store_id) == row.store_id,
                    col(Message.conversation_id) == conversation.id,
                    col(Message.direction) == "outbound",
                    col(Message.author) == "agent",
                )
            )
        )
    )
    status = "human" if human else ("waiting" if conversation.escalated else "ai")
    return Transcript(messages, status, ask_email)
