"""Delivering replies to chat visitors.

There is nothing to push: the widget reads the replies stored in its conversation (see
:mod:`taskra_chat.service`). ``send`` therefore only names the reply: the ``send_reply`` job
stores it under that id in the same transaction, and the id is derived from the idempotency
key, so a retried job can never store (or show) a second copy.
"""

from __future__ import annotations

from taskra_core.channels import Channel, DeliveryReceipt, Outbound
from taskra_core.errors import DeliveryError


class ChatChannel(Channel):
    """The ``chat`` channel: replies become visible to the visitor once stored."""

    name = "chat"

    async def send(self, outbound: Outbound) -> DeliveryReceipt:
        if not outbound.thread_key:
            raise DeliveryError(
                f"Conversation {outbound.conversation_id} has no chat session to reply to."
            )
        return DeliveryReceipt(channel_message_id=f"chat-reply:{outbound.idempotency_key}")
