"""Attachment metadata, and content only within the limits.

Sizes of base64 parts are computed from the encoded length, so an attachment over the limit
is never decoded. Nothing is decompressed: an archive bomb is recorded at its compressed size.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from email.message import Message

from .headers import decode_value
from .limits import EmailLimits

_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")
_MAX_NAME = 255


@dataclass(frozen=True, slots=True)
class Attachment:
    """One attachment. ``content`` is None when the part was over the size limits."""

    filename: str
    content_type: str
    size: int
    content: bytes | None = None
    content_id: str | None = None
    inline: bool = False

    def __repr__(self) -> str:  # never dump the bytes into logs
        return (
            f"Attachment(filename={self.filename!r}, content_type={self.content_type!r}, "
            f"size={self.size}, kept={self.content is not None})"
        )


def _filename(part: Message) -> str:
    try:
        name = part.get_filename() or ""
    except (ValueError, TypeError, LookupError, IndexError):
        name = ""
    name = decode_value(str(name))
    # A name is shown and maybe saved: no paths, no control characters, bounded.
    name = _UNSAFE_NAME.sub("_", name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip(" .")
    return name[:_MAX_NAME]


def _encoded_size(part: Message) -> int:
    """The decoded size, estimated from the encoded payload so nothing is decoded to learn
    it (exact for base64 and unencoded parts, an upper bound for quoted-printable)."""
    payload = part.get_payload()
    if not isinstance(payload, str):
        return 0
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte == "base64":
        data = len(payload) - sum(payload.count(c) for c in " \t\r\n")
        return max(0, data * 3 // 4 - payload.rstrip()[-2:].count("="))
    return len(payload.encode("utf-8", "surrogateescape"))


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except (ValueError, TypeError, IndexError):
        return None


def _decoded(part: Message) -> bytes | None:
    try:
        data = part.get_payload(decode=True)
    except (ValueError, TypeError, binascii.Error, AssertionError):
        return None
    return data if isinstance(data, bytes) else None


def _is_attachment(part: Message) -> bool:
    if part.is_multipart():
        return False
    if _disposition(part) == "attachment":
        return True
    # Inline non-text parts (pictures in the body) are attachments too; text parts other
    # than the chosen bodies only when they carry a file name.
    return part.get_content_maintype() != "text" or bool(_filename(part))


def collect_attachments(
    parts: list[Message], *, skip: set[int], limits: EmailLimits
) -> tuple[tuple[Attachment, ...], int]:
    """Attachments among ``parts`` (except the body parts in ``skip``) and how many more
    there were beyond ``max_attachments``. Parts inside an attached message count as that
    message, not separately."""
    found: list[Attachment] = []
    omitted = 0
    kept_bytes = 0
    inside: set[int] = set()
    for part in parts:
        if id(part) in skip or id(part) in inside:
            continue
        if part.get_content_type() == "message/rfc822" or (
            part.get_content_maintype() == "message" and part.is_multipart()
        ):
            inside.update(_descendants(part))
        elif not _is_attachment(part):
            continue
        if len(found) >= limits.max_attachments:
            omitted += 1
            continue
        size = _encoded_size(part)
        content: bytes | None = None
        if part.is_multipart():
            size = sum(_encoded_size(p) for p in _leaves(part))
        elif size <= limits.max_attachment_bytes and (
            kept_bytes + size <= limits.max_total_attachment_bytes
        ):
            content = _decoded(part)
            if content is not None:
                size = len(content)
                kept_bytes += size
        raw_cid = str(part.get("content-id", "") or "").strip()
        found.append(
            Attachment(
                filename=_filename(part) or ("message.eml" if part.is_multipart() else ""),
                content_type=part.get_content_type(),
                size=size,
                content=content,
                content_id=raw_cid[:998] or None,
                inline=_disposition(part) == "inline",
            )
        )
    return tuple(found), omitted


def _descendants(part: Message) -> set[int]:
    return {id(p) for p in _leaves(part, include_containers=True) if p is not part}


def _leaves(part: Message, include_containers: bool = False) -> list[Message]:
    out: list[Message] = []
    stack = [part]
    while stack:
        current = stack.pop()
        payload = current.get_payload() if current.is_multipart() else None
        if isinstance(payload, list):
            stack.extend(child for child in payload if isinstance(child, Message))
            if include_containers:
                out.append(current)
        else:
            out.append(current)
    return out
