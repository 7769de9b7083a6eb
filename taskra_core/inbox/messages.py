"""What a channel hands the inbox, and the small normalizations threading relies on."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr
from typing import Any

import nh3

from taskra_core.errors import InvalidInput
from taskra_core.models import Conversation, Message

MAX_TEXT_CHARS = 100_000
MAX_HTML_CHARS = 500_000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Reply and forward prefixes in the languages customers write to us in.
_SUBJECT_PREFIX = re.compile(
    r"^\s*((re|fw|fwd|aw|wg|sv|vs|tr|rv|ref|antw|r)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE
)


def normalize_email(value: str) -> str:
    """``"Jo Bloggs" <Jo@Example.COM>`` -> ``jo@example.com``; InvalidInput if it is not one."""
    _name, address = parseaddr(value.strip())
    address = address.strip().lower()
    if not _EMAIL.match(address) or len(address) > 320:
        raise InvalidInput(f"{value!r} is not an email address.")
    return address


def normalize_subject(subject: str) -> str:
    """Strip reply/forward prefixes and spacing so a reply threads with its original."""
    cleaned = _SUBJECT_PREFIX.sub("", subject or "")
    return " ".join(cleaned.split()).lower()[:255]


@dataclass(frozen=True)
class InboundMessage:
    """One customer message as a channel received it.

    ``channel_message_id`` is the channel's own id (an email's Message-ID, a chat message
    id): a repeated delivery with the same id is recognised and changes nothing. Thread
    hints (``in_reply_to``, ``references``, ``thread_key`` such as a chat session id) are
    tried before falling back to sender + subject. ``automated`` names why a machine sent
    the message (an out-of-office reply, a bounce): it is recorded, and never answered.
    """

    channel: str
    from_email: str
    text: str
    channel_message_id: str | None = None
    from_name: str | None = None
    subject: str = ""
    html: str | None = None
    received_at: datetime | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    thread_key: str | None = None
    automated: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def validated(self) -> InboundMessage:
        """Check and normalize, or raise :class:`InvalidInput` saying what is wrong."""
        if not self.channel or not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", self.channel):
            raise InvalidInput(f"Channel {self.channel!r} must be a short lower-case name.")
        if not self.text.strip() and not (self.html or "").strip():
            raise InvalidInput("The message has no text.")
        if len(self.text) > MAX_TEXT_CHARS or len(self.html or "") > MAX_HTML_CHARS:
            raise InvalidInput(
                f"The message is too large (text over {MAX_TEXT_CHARS} characters or HTML "
                f"over {MAX_HTML_CHARS})."
            )
        if self.received_at is not None and self.received_at.tzinfo is None:
            raise InvalidInput("received_at must carry a time zone.")
        return InboundMessage(
            channel=self.channel,
            from_email=normalize_email(self.from_email),
            text=self.text.strip(),
            channel_message_id=(self.channel_message_id or "").strip()[:998] or None,
            from_name=" ".join((self.from_name or "").split())[:255] or None,
            subject=" ".join((self.subject or "").split())[:998],
            # Defence in depth: channels sanitize, and the inbox never stores what they missed.
            html=nh3.clean(self.html) if self.html else None,
            received_at=self.received_at,
            in_reply_to=(self.in_reply_to or "").strip() or None,
            references=tuple(ref.strip() for ref in self.references if ref.strip())[-20:],
            thread_key=(self.thread_key or "").strip()[:255] or None,
            automated=(self.automated or "").strip()[:64] or None,
            metadata=dict(self.metadata),
        )


@dataclass(frozen=True)
class Received:
    """What ``Inbox.receive`` did: the stored message, its conversation, and whether it is new."""

    message: Message
    conversation: Conversation
    created: bool
