"""Taskra's email channel: parsing inbound mail into what the inbox needs.

``parse_message(raw)`` turns raw RFC 5322 bytes into a :class:`ParsedEmail`: sender,
recipients, threading ids, the new reply without quoted history or signature, the full text,
sanitized HTML, attachment metadata and whether a machine sent it. Work is bounded by
:class:`EmailLimits`; what breaks a limit raises
:class:`taskra_core.errors.EmailRejected`.
"""

from __future__ import annotations

from .attachments import Attachment
from .html import html_to_text, sanitize_html
from .limits import DEFAULT_LIMITS, EmailLimits
from .parse import ParsedEmail, parse_message
from .reply import extract_reply

__all__ = [
    "DEFAULT_LIMITS",
    "Attachment",
    "EmailLimits",
    "ParsedEmail",
    "extract_reply",
    "html_to_text",
    "parse_message",
    "sanitize_html",
]
