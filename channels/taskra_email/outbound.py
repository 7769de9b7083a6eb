"""Replies by email: the ``email`` channel's outbound half.

A reply goes out through Taskra's mail port (Resend when ``RESEND_API_KEY`` is set, else the
logged outbox) with the headers that make the customer's mail client thread it under their
message: ``In-Reply-To`` their Message-ID and ``References`` the thread. The reply's own
Message-ID is derived from the reply's idempotency key, so a retry carries the same id, and
it is what the inbox stores: the customer's next answer (``In-Reply-To`` that id) threads
into the same conversation.

The reply comes from ``TASKRA_EMAIL_FROM`` under the store's name, with the store's inbound
address as ``Reply-To`` (when inbound mail is set up), so the customer's answer comes back to
Taskra even when their client drops the threading headers. It carries a plain-text and an
HTML body, and a ``taskra_store`` tag that Resend echoes in bounce and complaint events.
"""

from __future__ import annotations

import hashlib
import html
import re
from email.utils import formataddr, parseaddr

from taskra_core.channels import Channel, DeliveryReceipt, Outbound
from taskra_core.mail import Email, Mailer

from .addresses import inbound_address
from .resend_events import STORE_TAG

# Message-IDs are "<local@domain>"; anything else in a stored id is not one.
_MESSAGE_ID = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")
FALLBACK_DOMAIN = "taskra.invalid"


class EmailChannel(Channel):
    name = "email"

    def __init__(
        self, mailer: Mailer, sender: str | None = None, inbound_domain: str | None = None
    ) -> None:
        self.mailer = mailer
        self.sender = sender
        self.inbound_domain = inbound_domain
        address = parseaddr(sender or "")[1]
        self.domain = address.rpartition("@")[2] or FALLBACK_DOMAIN

    def sender_for(self, outbound: Outbound) -> str | None:
        """The configured sender's address under the store's name (customers know the
        shop, not Taskra); ``None`` leaves the mailer's default."""
        name, address = parseaddr(self.sender or "")
        if not address:
            return None
        return formataddr((outbound.store_name or name, address))

    def message_id(self, outbound: Outbound) -> str:
        digest = hashlib.sha256(outbound.idempotency_key.encode()).hexdigest()[:32]
        return f"<taskra.{digest}@{self.domain}>"

    async def send(self, outbound: Outbound) -> DeliveryReceipt:
        message_id = self.message_id(outbound)
        headers = {"Message-ID": message_id}
        parent = _message_id(outbound.in_reply_to)
        if parent is not None:
            headers["In-Reply-To"] = parent
            thread = [i for i in (_message_id(outbound.thread_key), parent) if i is not None]
            headers["References"] = " ".join(dict.fromkeys(thread))
        provider_id = await self.mailer.send(
            Email(
                to=outbound.to_email,
                subject=outbound.subject or "Your message",
                text=outbound.text,
                html=to_html(outbound.text),
                reply_to=inbound_address(outbound.store_domain, self.inbound_domain),
                headers=headers,
                idempotency_key=outbound.idempotency_key,
                sender=self.sender_for(outbound),
                tags={STORE_TAG: str(outbound.store_id)},
            )
        )
        return DeliveryReceipt(channel_message_id=message_id, provider_id=provider_id)

    async def aclose(self) -> None:
        await self.mailer.aclose()


def to_html(text: str) -> str:
    """The reply as simple HTML: escaped, paragraphs kept, line breaks kept."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    body = "".join(
        "<p>" + "<br>".join(html.escape(line) for line in p.splitlines()) + "</p>"
        for p in paragraphs
    )
    return f'<div style="font-family:sans-serif;font-size:14px;line-height:1.5">{body}</div>'


def _message_id(value: str | None) -> str | None:
    if not value:
        return None
    found = _MESSAGE_ID.search(value)
    return found.group(0) if found else None
