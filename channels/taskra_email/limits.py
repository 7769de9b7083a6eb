"""Limits that keep parsing of untrusted mail bounded in time and memory.

Every inbound message comes from the internet, so each stage has a ceiling: the raw size
(checked first, before any parsing), the header block, the number of MIME parts and their
nesting (checked with a cheap byte scan before the stdlib parser runs, then exactly after),
the decoded text kept per body, the text handed to the reply stripper, and the attachment
bytes kept in memory. Attachments are never decompressed, so an archive bomb costs only its
compressed size.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class EmailLimits:
    """Ceilings for :func:`taskra_email.parse_message`; the defaults suit a support inbox."""

    #: Raw RFC 5322 bytes. Providers cap mail at 25-40 MiB including base64 overhead.
    max_message_bytes: int = 30 * MIB
    #: The top-level header block. Real mail stays under a few KiB; relay chains add
    #: Received lines, so leave generous room.
    max_header_bytes: int = 256 * 1024
    #: Header fields in the top-level block.
    max_header_count: int = 1000
    #: MIME parts in the whole tree (containers included).
    max_parts: int = 200
    #: Multipart / message/rfc822 nesting; clients rarely go past 4.
    max_depth: int = 12
    #: Characters kept of each decoded text/plain or text/html body.
    max_body_chars: int = 2 * MIB
    #: Characters of plain text examined when looking for the new reply. The new reply sits
    #: at the top, and the stripper's regular expressions must see bounded input.
    max_reply_scan_chars: int = 48 * 1024
    #: Decoded bytes of one attachment whose content is kept; larger ones keep metadata only.
    max_attachment_bytes: int = 10 * MIB
    #: Decoded attachment bytes kept for one message in total.
    max_total_attachment_bytes: int = 20 * MIB
    #: Attachment metadata entries recorded (the rest are counted, not listed).
    max_attachments: int = 50


DEFAULT_LIMITS = EmailLimits()
