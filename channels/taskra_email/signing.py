"""Signatures on inbound email requests.

Raw MIME from forwarders and other providers (``POST /channels/email/inbound``) is signed
with ``TASKRA_EMAIL_INBOUND_SECRET``::

    X-Taskra-Timestamp: <unix seconds>
    X-Taskra-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

The timestamp is signed so a captured request cannot be replayed after ``TOLERANCE``; a
replay inside it is harmless anyway (the inbox stores a Message-ID once). Resend's webhooks
are signed by Svix; they are checked with the Resend SDK's own verifier.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any

from taskra_core.errors import ConfigurationError, WebhookMalformed, WebhookSignatureInvalid

TIMESTAMP_HEADER = "x-taskra-timestamp"
SIGNATURE_HEADER = "x-taskra-signature"
TOLERANCE = 300  # seconds, as Svix allows


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers that sign ``body``: for forwarders written in Python, and for tests."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Taskra-Timestamp": ts, "X-Taskra-Signature": f"v1={digest}"}


def verify_raw(
    secret: str | None, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> None:
    """Raise unless ``headers`` sign ``body`` with ``secret`` within the time window."""
    if not secret:
        raise ConfigurationError(
            "TASKRA_EMAIL_INBOUND_SECRET is not set, so signed raw email cannot be accepted."
        )
    ts = headers.get(TIMESTAMP_HEADER, "").strip()
    given = headers.get(SIGNATURE_HEADER, "").strip()
    if not ts or not given:
        raise WebhookMalformed("X-Taskra-Timestamp and X-Taskra-Signature headers are required.")
    # isdigit() alone accepts "¹" and other digits int() refuses.
    if not (ts.isascii() and ts.isdigit()) or len(ts) > 12:
        raise WebhookMalformed("X-Taskra-Timestamp must be a Unix time in seconds.")
    if abs((time.time() if now is None else now) - int(ts)) > TOLERANCE:
        raise WebhookSignatureInvalid(
            f"X-Taskra-Timestamp is more than {TOLERANCE} s from the server's clock."
        )
    expected = sign(secret, body, int(ts))["X-Taskra-Signature"].encode()
    # Several space-separated signatures are accepted, so a secret can be rotated.
    valid = False
    for candidate in given.split():
        valid |= hmac.compare_digest(expected, candidate.encode("latin-1", "replace"))
    if not valid:
        raise WebhookSignatureInvalid(
            "X-Taskra-Signature does not match the body under TASKRA_EMAIL_INBOUND_SECRET."
        )


def verify_svix(secret: str | None, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """A Resend (Svix-signed) webhook's event, verified by the Resend SDK; raises if not."""
    if not secret:
        raise ConfigurationError(
            "RESEND_WEBHOOK_SECRET is not set, so Resend webhooks cannot be verified; copy the "
            "signing secret (whsec_...) from the webhook's page in Resend."
        )
    import resend  # here: the SDK costs ~0.3 s to import and most processes never need it

    try:
        text = body.decode("utf-8")
        event = resend.Webhooks.verify(
            {
                "payload": text,
                "headers": {
                    "id": headers.get("svix-id", ""),
                    "timestamp": headers.get("svix-timestamp", ""),
                    "signature": headers.get("svix-signature", ""),
                },
                "webhook_secret": secret,
            }
        )
    except (ValueError, UnicodeDecodeError) as exc:  # the SDK says why in a ValueError
        raise WebhookSignatureInvalid(
            f"The Resend webhook signature is not valid: {exc}."
        ) from None
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        raise WebhookMalformed("The Resend webhook is not an event object with data.")
    return dict(event)
