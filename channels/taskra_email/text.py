"""Decoding a body part to text whatever its charset claims."""

from __future__ import annotations

import codecs
from email.message import Message


def _charset(part: Message) -> str | None:
    try:
        charset = part.get_content_charset()
    except (ValueError, TypeError, LookupError):
        return None
    if not charset:
        return None
    try:
        info = codecs.lookup(charset)
    except (LookupError, ValueError):
        return None
    # Only text encodings; codecs.lookup also finds bytes-to-bytes codecs like "zlib".
    return info.name if getattr(info, "_is_text_encoding", True) else None


def decode_text(part: Message, max_chars: int, defects: list[str]) -> str:
    """The part's decoded text, cut to ``max_chars``. Unknown or wrong charsets fall back to
    UTF-8, then Windows-1252 (which maps every byte), so decoding never fails."""
    try:
        payload = part.get_payload(decode=True)
    except (ValueError, TypeError, AssertionError):
        payload = None
    if not isinstance(payload, bytes):
        defects.append(f"{part.get_content_type()} body could not be decoded")
        return ""
    # Decode a little more than needed: max_chars characters need at most 4 bytes each.
    cut = len(payload) > max_chars * 4
    payload = payload[: max_chars * 4]
    declared = _charset(part)
    text: str | None = None
    for charset in (declared, "utf-8"):
        if charset is None:
            continue
        try:
            text = payload.decode(charset)
            break
        except UnicodeDecodeError as exc:
            if cut and exc.start >= len(payload) - 4:
                # The cut split the last character; the rest decodes.
                text = payload[: exc.start].decode(charset, errors="replace")
                break
        except LookupError:
            continue
    if text is None:
        defects.append(f"charset {declared or 'unknown'} did not match the body")
        text = payload.decode("cp1252", errors="replace")
    if len(text) > max_chars:
        defects.append(f"{part.get_content_type()} body cut to {max_chars} characters")
        text = text[:max_chars]
    return text.replace("\r\n", "\n").replace("\x00", "")
