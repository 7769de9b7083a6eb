"""Header values read defensively.

``policy.default`` parses structured headers lazily, on access, and its parser has raised
on hostile values in the past (and is slow on some). So values are read raw, RFC 2047
decoded with the older, simpler decoder, and only addresses go through the structured
parser, with a plain fallback.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

# Values longer than this are cut before decoding; no real header needs more, and the
# structured address parser is super-linear on some long inputs.
MAX_VALUE_CHARS = 16 * 1024
_MSG_ID = re.compile(r"<[^<>\s]{1,900}>")
_MAX_REFERENCES = 100
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def decode_value(value: str) -> str:
    """An RFC 2047 encoded header value as text; undecodable words stay as they came."""
    value = value[:MAX_VALUE_CHARS]
    try:
        decoded = str(make_header(decode_header(value)))
    except (UnicodeError, LookupError, ValueError, AssertionError, TypeError):
        # decode_header raises on unknown charsets and malformed encoded words.
        decoded = value
    # Unfold continuation lines and drop control characters a header may smuggle in.
    return _CONTROL.sub("", " ".join(decoded.split()) if "\n" in decoded else decoded).strip()


def _raw_items(message: Message) -> list[tuple[str, str]]:
    # raw_items() gives the stored (name, value) pairs without running the header parser.
    items = getattr(message, "raw_items", None)
    pairs = list(items()) if callable(items) else list(message.items())
    return [(str(name), str(value)) for name, value in pairs]


def header_values(message: Message) -> dict[str, str]:
    """Lower-cased header name -> decoded value of its first occurrence."""
    values: dict[str, str] = {}
    for name, value in _raw_items(message):
        key = name.strip().lower()
        if key and key not in values:
            values[key] = decode_value(value)
    return values


def _raw(message: Message, name: str) -> list[str]:
    return [value for key, value in _raw_items(message) if key.strip().lower() == name]


def _addresses(message: Message, name: str) -> list[tuple[str, str]]:
    """(display name, lower-cased address) pairs of every ``name`` header."""
    pairs: list[tuple[str, str]] = []
    for raw in _raw(message, name):
        raw = raw[:MAX_VALUE_CHARS]
        try:
            header = message.policy.header_factory(name, raw)  # type: ignore[attr-defined]
            found = [(a.display_name, a.addr_spec) for a in header.addresses]
        except Exception:
            found = getaddresses([decode_value(raw)])
        for display, addr in found:
            addr = addr.strip().strip("<>").lower()
            if "@" in addr or addr:
                pairs.append((decode_value(display), addr))
    return pairs


def first_address(message: Message, name: str) -> tuple[str, str]:
    """The first (display name, address) of a header; empty strings when there is none."""
    found = _addresses(message, name)
    return found[0] if found else ("", "")


def address_list(message: Message, name: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(addr for _, addr in _addresses(message, name) if addr))


def message_ids(value: str) -> tuple[str, ...]:
    """The ``<...>`` ids in a Message-ID, In-Reply-To or References value (the last 100 of a
    long References chain: the recent ones are what threading needs)."""
    ids = _MSG_ID.findall(value)
    if not ids and value.strip() and " " not in value.strip():
        # Some clients omit the angle brackets; keep the id usable for threading.
        ids = [f"<{value.strip()[:900]}>"]
    return tuple(ids[-_MAX_REFERENCES:])


def parse_date(value: str) -> datetime | None:
    """The Date header as an aware datetime (UTC when it has no zone), or None."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
