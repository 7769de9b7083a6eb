"""One logging set-up: readable lines in development, JSON lines in production.

The privacy policy promises no personal data in logs, so the redaction is not optional: a
filter on the handler masks email addresses and well-known secret shapes in every rendered
message, and masks the values of structured fields that carry personal data (``email``,
``name``, ...). Code should still pass people's details only through such fields
(``log.info("customer upserted", extra={"email": email})``) and never format them into text.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

EMAIL_RE = re.compile(
    r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-])[A-Za-z0-9.-]*\.([A-Za-z]{2,})"
)
# Shapes of credentials Taskra handles: Shopify tokens, Anthropic/Stripe/Resend keys, webhook
# secrets, bearer tokens. Better a masked harmless string than a leaked key.
SECRET_RE = re.compile(
    r"\b(shp(?:at|ua|ca|pa|ss)_[A-Za-z0-9]+|sk-ant-[A-Za-z0-9_-]+|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]+"
    r"|whsec_[A-Za-z0-9+/=]+|re_[A-Za-z0-9_]{8,}|Bearer\s+[A-Za-z0-9._~+/=-]+)"
)
PERSONAL_FIELDS = frozenset(
    {
        "email",
        "from_email",
        "to_email",
        "name",
        "customer_name",
        "first_name",
        "last_name",
        "phone",
        "address",
        "ip",
    }
)
# Library loggers that write query parameters or request bodies below these levels.
PAYLOAD_LOGGERS = {
    "sqlalchemy.engine": logging.WARNING,  # SQL with its parameters at INFO
    "aiosqlite": logging.INFO,
    "asyncpg": logging.INFO,
    "anthropic": logging.INFO,
    "httpcore": logging.INFO,
    "resend": logging.INFO,
}
SECRET_FIELDS = frozenset({"token", "access_token", "refresh_token", "password", "secret", "key"})
# uvicorn adds "color_message", an ANSI-coloured copy of the message, to its records.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {
    "message",
    "asctime",
    "color_message",
}


def mask_text(text: str) -> str:
    """Mask emails (``j***@e***.com``) and secret-shaped strings in free text."""
    text = EMAIL_RE.sub(lambda m: f"{m.group(1)}***@{m.group(2)}***.{m.group(3)}", text)
    return SECRET_RE.sub("[secret]", text)


def mask_value(field: str, value: Any) -> Any:
    lowered = field.lower()
    if lowered in SECRET_FIELDS or lowered.endswith(("_token", "_secret", "_key", "password")):
        return "[secret]"
    if lowered in PERSONAL_FIELDS or lowered.endswith(("_email", "_name")):
        text = str(value)
        return mask_text(text) if "@" in text else (text[:1] + "***" if text else text)
    if isinstance(value, Mapping):
        return {k: mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [mask_value(field, item) for item in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    # Anything else is rendered as text by the formatters; mask that text.
    return mask_text(value if isinstance(value, str) else str(value))


class RedactingFilter(logging.Filter):
    """Masks personal data and secrets in a record's message and extra fields, in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_text(record.getMessage())
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS:
                setattr(record, key, mask_value(key, value))
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_extras(record),
        }
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = _extras(record)
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        return line


def configure_logging(
    environment: Literal["development", "production"],
    level: str = "INFO",
    stream: TextIO | None = None,
) -> logging.Handler:
    """Install Taskra's single handler on the root logger and return it.

    The root logger, not just Taskra's, because libraries log too (URLs, headers) and their
    lines must pass through the same redaction. Idempotent: calling it again replaces the
    previous handler rather than adding a second.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if environment == "production" else TextFormatter())
    handler.addFilter(RedactingFilter())
    handler.set_name("taskra")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "taskra"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Alembic narrates every migration step at INFO; Taskra reports the outcome itself.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    # At DEBUG these libraries log query parameters and request bodies (customers' names,
    # emails, message text), which no redaction can recognise: never that verbose.
    for name, floor in PAYLOAD_LOGGERS.items():
        logging.getLogger(name).setLevel(max(floor, root.level))
    return handler
