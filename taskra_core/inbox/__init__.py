"""The inbox: every customer message, threaded into conversations, searchable."""

from taskra_core.inbox.messages import InboundMessage, Received
from taskra_core.inbox.service import Inbox

__all__ = ["InboundMessage", "Inbox", "Received"]
