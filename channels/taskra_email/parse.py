"""``parse_message``: raw RFC 5322 bytes in, a :class:`ParsedEmail` out, in bounded work.

MIME is the stdlib ``email`` package with ``policy.default``. Untrusted input is checked
against :class:`~taskra_email.limits.EmailLimits` before the parser runs (size, header
block, a byte scan that bounds parts and nesting) and exactly afterwards; anything over a
limit raises :class:`~taskra_core.errors.EmailRejected`. Everything else that is merely
broken (bad charsets, malformed headers, undecodable bodies) degrades to a best-effort value
instead of failing, because a customer's message must not be lost over a formatting error.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage, Message

from taskra_core.errors import EmailRejected, EmailTooLarge

from .attachments import Attachment, collect_attachments
from .autoreply import detect_auto_reply
from .headers import address_list, first_address, header_values, message_ids, parse_date
from .html import html_to_text, sanitize_html
from .limits import DEFAULT_LIMITS, EmailLimits
from .reply import extract_reply
from .text import decode_text

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_BOUNDARY_PARAM = re.compile(rb"boundary\s*=", re.IGNORECASE)
_CONTENT_TYPE_LINE = re.compile(rb"^content-type\s*:", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    """One inbound email, decoded. Addresses are lower-cased; ids keep their angle brackets."""

    from_email: str
    from_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    date: datetime | None
    #: The new reply only: quoted history, reply headers and signatures removed.
    visible_text: str
    #: The whole plain-text body (from the HTML part when there is no plain one).
    text: str
    #: The HTML body, sanitized; empty when the mail has none.
    html: str
    attachments: tuple[Attachment, ...] = ()
    #: Attachments beyond ``max_attachments``: counted, not described.
    attachments_omitted: int = 0
    #: The Auto-Submitted header's value, if any (``"no"`` means a person sent it).
    auto_submitted: str | None = None
    #: Sent by a machine (autoresponder, list, bounce): record it, never answer it.
    is_auto_reply: bool = False
    is_bounce: bool = False
    auto_reply_reason: str | None = None
    #: Bodies or header values that had to be repaired or cut, for the message's log.
    defects: tuple[str, ...] = field(default=())


def parse_message(raw: bytes, limits: EmailLimits = DEFAULT_LIMITS) -> ParsedEmail:
    """Parses one raw email. Raises :class:`EmailTooLarge` over ``max_message_bytes`` and
    :class:`EmailRejected` when headers, parts or nesting break a limit; never anything else
    for malformed input."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise EmailRejected("An email must be given as raw bytes.")
    raw = bytes(raw)
    _precheck(raw, limits)
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
    except RecursionError as exc:  # a nesting the byte scan could not see
        raise EmailRejected("The email is nested too deeply to parse.") from exc
    if not isinstance(message, EmailMessage):  # policy.default always builds these
        raise EmailRejected("The email could not be parsed.")
    parts = _check_tree(message, limits)
    defects: list[str] = []

    headers = header_values(message)
    sender = first_address(message, "from")
    plain_part, html_part = _body_parts(message)
    text = decode_text(plain_part, limits.max_body_chars, defects) if plain_part else ""
    raw_html = decode_text(html_part, limits.max_body_chars, defects) if html_part else ""
    html = sanitize_html(raw_html) if raw_html else ""
    if not text and raw_html:
        text = html_to_text(raw_html)
    attachments, omitted = collect_attachments(
        parts, skip={id(plain_part), id(html_part)}, limits=limits
    )
    verdict = detect_auto_reply(
        headers,
        from_email=sender[1],
        content_type=message.get_content_type(),
        has_dsn_part=any(p.get_content_type() == "message/delivery-status" for p in parts),
    )
    ids = message_ids(headers.get("references", ""))
    return ParsedEmail(
        from_email=sender[1],
        from_name=sender[0],
        to=address_list(message, "to"),
        cc=address_list(message, "cc"),
        subject=headers.get("subject", ""),
        message_id=next(iter(message_ids(headers.get("message-id", ""))), None),
        in_reply_to=next(iter(message_ids(headers.get("in-reply-to", ""))), None),
        references=ids,
        date=parse_date(headers.get("date", "")),
        visible_text=extract_reply(text, max_chars=limits.max_reply_scan_chars),
        text=text,
        html=html,
        attachments=attachments,
        attachments_omitted=omitted,
        auto_submitted=verdict.auto_submitted,
        is_auto_reply=verdict.is_auto_reply,
        is_bounce=verdict.is_bounce,
        auto_reply_reason=verdict.reason,
        defects=tuple(defects),
    )


def _precheck(raw: bytes, limits: EmailLimits) -> None:
    """Refuses, before parsing, what would make the parser's work unbounded."""
    if len(raw) > limits.max_message_bytes:
        raise EmailTooLarge(
            f"The email is {len(raw)} bytes; the limit is {limits.max_message_bytes}."
        )
    end = _HEADER_END.search(raw, 0, limits.max_header_bytes + 4)
    header_block = raw[: end.start()] if end else raw
    if len(header_block) > limits.max_header_bytes:
        raise EmailRejected(
            f"The email's headers are over {limits.max_header_bytes} bytes; it was refused."
        )
    fields = sum(1 for line in header_block.splitlines() if line[:1] not in (b" ", b"\t"))
    if fields > limits.max_header_count:
        raise EmailRejected(f"The email has over {limits.max_header_count} header fields.")
    # Each nested multipart declares a boundary and each part has a header block, so these
    # counts bound the tree from above (with slack for the words appearing in text).
    if len(_BOUNDARY_PARAM.findall(raw)) > limits.max_parts:
        raise EmailRejected(f"The email declares over {limits.max_parts} multipart boundaries.")
    if len(_CONTENT_TYPE_LINE.findall(raw)) > 2 * limits.max_parts:
        raise EmailRejected(f"The email has over {limits.max_parts} MIME parts.")


def _walk(message: Message) -> Iterator[tuple[Message, int]]:
    """Every part with its depth, iteratively (no recursion on attacker-chosen nesting)."""
    stack: list[tuple[Message, int]] = [(message, 0)]
    while stack:
        part, depth = stack.pop()
        yield part, depth
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            children = [child for child in reversed(payload) if isinstance(child, Message)]
            stack.extend((child, depth + 1) for child in children)


def _check_tree(message: Message, limits: EmailLimits) -> list[Message]:
    parts: list[Message] = []
    for part, depth in _walk(message):
        if depth > limits.max_depth:
            raise EmailRejected(f"The email's MIME parts nest over {limits.max_depth} deep.")
        parts.append(part)
        if len(parts) > limits.max_parts:
            raise EmailRejected(f"The email has over {limits.max_parts} MIME parts.")
    return parts


def _body_parts(message: EmailMessage) -> tuple[Message | None, Message | None]:
    """The text/plain and text/html parts that make up the body, as a mail client picks
    them (``get_body``): inline parts, preferring those of a multipart/alternative."""
    plain: Message | None = None
    html: Message | None = None
    try:
        plain = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
    except (KeyError, ValueError, TypeError, IndexError, AttributeError):
        # get_body reads Content-Disposition and parameters of every part; a malformed
        # one can raise. Fall back to the first text parts.
        for part, _ in _walk(message):
            kind = part.get_content_type()
            if plain is None and kind == "text/plain":
                plain = part
            elif html is None and kind == "text/html":
                html = part
    return plain, html
