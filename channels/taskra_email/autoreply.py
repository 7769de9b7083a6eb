"""Recognizing mail that no one should answer: auto-replies, list traffic and bounces.

Answering an out-of-office reply or a bounce starts a mail loop, so these signals follow RFC
3834 (Auto-Submitted), the de-facto headers of common autoresponders, and RFC 3464 delivery
status reports.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_BULK_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply", "auto-reply"})
_DAEMON = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon)@", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class AutoReplyVerdict:
    """Why a message is automatic; ``reason`` is None for mail a person wrote."""

    auto_submitted: str | None
    is_bounce: bool
    reason: str | None

    @property
    def is_auto_reply(self) -> bool:
        return self.reason is not None


def detect_auto_reply(
    headers: Mapping[str, str], *, from_email: str, content_type: str, has_dsn_part: bool
) -> AutoReplyVerdict:
    """Classifies a message from its (lower-cased, decoded) header values, its sender, its
    top-level content type and whether any part is a ``message/delivery-status``."""
    auto_submitted = headers.get("auto-submitted", "").strip() or None
    return_path = headers.get("return-path", "").strip()
    bounce_reason: str | None = None
    if has_dsn_part or (
        content_type == "multipart/report"
        and "delivery-status" in headers.get("content-type", "").lower()
    ):
        bounce_reason = "delivery status report"
    elif return_path in {"<>", ""} and "return-path" in headers:
        bounce_reason = "null return path"
    elif _DAEMON.match(_address(return_path)) or _DAEMON.match(from_email):
        bounce_reason = "sent by a mailer daemon"
    elif "x-failed-recipients" in headers:
        bounce_reason = "X-Failed-Recipients"
    if bounce_reason:
        return AutoReplyVerdict(auto_submitted, is_bounce=True, reason=bounce_reason)

    reason: str | None = None
    if auto_submitted and auto_submitted.split(";")[0].strip().lower() != "no":
        reason = f"Auto-Submitted: {auto_submitted}"
    elif "x-autoreply" in headers or "x-autorespond" in headers:
        reason = "autoresponder header"
    elif headers.get("precedence", "").strip().lower() in _BULK_PRECEDENCE:
        reason = f"Precedence: {headers['precedence'].strip().lower()}"
    return AutoReplyVerdict(auto_submitted, is_bounce=False, reason=reason)


def _address(value: str) -> str:
    return value.strip().strip("<>").strip()
