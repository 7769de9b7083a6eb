"""Raw MIME into the inbox: parse, find the store, hand the inbox an ``InboundMessage``.

Every inbound path ends here: the signed raw-MIME endpoint, Resend's ``email.received``
(after the body is fetched by id) and ``taskra email receive``. The inbox stores a message
once per Message-ID, so a provider's retry or a forwarder's repeat changes nothing, and it
threads by In-Reply-To / References before falling back to sender and subject.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from taskra_core.inbox.messages import MAX_HTML_CHARS, MAX_TEXT_CHARS, InboundMessage, Received

from .addresses import store_for_recipients
from .limits import DEFAULT_LIMITS, EmailLimits
from .parse import ParsedEmail, parse_message

if TYPE_CHECKING:
    from taskra_core.app import Taskra

log = logging.getLogger(__name__)
CHANNEL = "email"
# Parsing a large message takes tens of milliseconds of CPU; below this it stays inline.
_THREAD_ABOVE_BYTES = 256 * 1024


def limits_for(taskra: Taskra) -> EmailLimits:
    return replace(DEFAULT_LIMITS, max_message_bytes=taskra.settings.email_max_bytes)


async def parse(taskra: Taskra, raw: bytes) -> ParsedEmail:
    """``parse_message`` with the server's size limit, off the event loop when large."""
    limits = limits_for(taskra)
    if len(raw) > _THREAD_ABOVE_BYTES:
        return await asyncio.to_thread(parse_message, raw, limits)
    return parse_message(raw, limits)


async def receive_email(
    taskra: Taskra,
    raw: bytes,
    *,
    recipients: Sequence[str] = (),
    store_id: int | None = None,
    source: str,
) -> Received:
    """Store one raw email in its store's inbox and return what the inbox did.

    ``recipients`` are envelope recipients (a forwarder's RCPT TO, Resend's
    ``received_for``), tried before the To and Cc headers. ``store_id`` skips routing (the
    CLI names the store). Raises ``EmailRejected`` (over a limit, or no store receives mail at
    its addresses) or ``InvalidInput`` (no usable sender); nothing is stored then.
    """
    parsed = await parse(taskra, raw)
    if store_id is None:
        store = await store_for_recipients(taskra, [*recipients, *parsed.to, *parsed.cc])
        assert store.id is not None
        store_id = store.id
    received = await taskra.inbox.receive(store_id, to_inbound(parsed, source))
    log.info(
        "email received",
        extra={
            "store_id": store_id,
            "message_id": received.message.id,
            "conversation_id": received.conversation.id,
            "new": received.created,
            "source": source,
            "automated": parsed.auto_reply_reason,
        },
    )
    return received


def to_inbound(parsed: ParsedEmail, source: str) -> InboundMessage:
    """What the inbox needs from a parsed email (the visible reply as its text)."""
    text = (parsed.visible_text or parsed.text).strip()
    if not text:
        names = ", ".join(a.filename for a in parsed.attachments) or "none"
        text = f"(The email has no text. Attachments: {names}.)"
    meta: dict[str, Any] = {
        "source": source,
        "to": list(parsed.to),
        "cc": list(parsed.cc),
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size}
            for a in parsed.attachments
        ],
    }
    if parsed.date is not None:
        # Kept, not trusted: a sender's clock (or a forger) must not reorder the inbox.
        meta["date"] = parsed.date.isoformat()
    if parsed.attachments_omitted:
        meta["attachments_omitted"] = parsed.attachments_omitted
    if parsed.visible_text.strip() != parsed.text.strip():
        meta["quoted_history_removed"] = True
    if len(text) > MAX_TEXT_CHARS:
        text, meta["text_truncated"] = text[:MAX_TEXT_CHARS], True
    html: str | None = parsed.html or None
    if html is not None and len(html) > MAX_HTML_CHARS:
        # Cutting HTML mid-tag would leave broken markup; the text stands in for it.
        html, meta["html_dropped"] = None, True
    if parsed.defects:
        meta["defects"] = list(parsed.defects)[:20]
    automated = None
    if parsed.is_bounce:
        automated = "bounce"
    elif parsed.is_auto_reply:
        automated = parsed.auto_reply_reason or "auto-reply"
    return InboundMessage(
        channel=CHANNEL,
        from_email=parsed.from_email,
        from_name=parsed.from_name or None,
        subject=parsed.subject,
        text=text,
        html=html,
        channel_message_id=parsed.message_id,
        in_reply_to=parsed.in_reply_to,
        references=parsed.references,
        automated=automated,
        metadata=meta,
    )
