"""The email channel's HTTP endpoints, mounted by the web shell under ``/channels/email/``.

- ``POST /channels/email/resend``: Resend webhooks (Svix-signed). ``email.received`` queues
  the body's fetch; bounces and complaints mark the customer's address.
- ``POST /channels/email/inbound``: one raw RFC 5322 message from a forwarder or another
  provider, signed as :mod:`taskra_email.signing` says. ``X-Taskra-Recipient`` may name the
  envelope recipient(s), comma-separated, tried before the To and Cc headers.

Both answer 2xx only once the message (or the job that fetches it) is committed. Errors are
Taskra's (the shell maps them: bad signature 401, too large 413, unknown recipient 422).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from taskra_core.bodies import read_bounded
from taskra_core.errors import EmailTooLarge, UnknownRecipient, WebhookTooLarge

from .receive import receive_email
from .resend_events import handle_event
from .signing import verify_raw, verify_svix

if TYPE_CHECKING:
    from taskra_core.app import Taskra

PREFIX = "/channels/email"
RECIPIENT_HEADER = "x-taskra-recipient"


def email_routes() -> list[BaseRoute]:
    return [
        Route(f"{PREFIX}/resend", resend_webhook, methods=["POST"]),
        Route(f"{PREFIX}/inbound", raw_inbound, methods=["POST"]),
    ]


async def resend_webhook(request: Request) -> JSONResponse:
    """Verify a Resend webhook and act on it."""
    taskra: Taskra = request.app.state.taskra
    settings = taskra.settings
    body = await read_bounded(
        request.stream(),
        settings.webhook_max_bytes,
        WebhookTooLarge,
        request.headers.get("content-length"),
    )
    secret = settings.resend_webhook_secret
    event = verify_svix(secret.get_secret_value() if secret else None, request.headers, body)
    try:
        result = await handle_event(taskra, event)
    except UnknownRecipient as exc:
        # Refused, not failed: an error status would make Resend retry mail nobody receives.
        return JSONResponse({"status": "rejected", "reason": str(exc)})
    return JSONResponse(result)


async def raw_inbound(request: Request) -> JSONResponse:
    """Verify and store one raw email; 201 when new, 200 for a repeat of a stored one."""
    taskra: Taskra = request.app.state.taskra
    settings = taskra.settings
    body = await read_bounded(
        request.stream(),
        settings.email_max_bytes,
        EmailTooLarge,
        request.headers.get("content-length"),
    )
    secret = settings.email_inbound_secret
    verify_raw(secret.get_secret_value() if secret else None, request.headers, body)
    declared = request.headers.get(RECIPIENT_HEADER, "")
    recipients = [r.strip() for r in declared.split(",") if r.strip()][:50]
    received = await receive_email(taskra, body, recipients=recipients, source="raw")
    return JSONResponse(
        {
            "status": "stored" if received.created else "duplicate",
            "message_id": received.message.id,
            "conversation_id": received.conversation.id,
        },
        status_code=201 if received.created else 200,
    )
