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

from taskra_core.errors import EmailTooLarge, UnknownRecipient, WebhookMalformed, WebhookTooLarge

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
    body = await _read(request, settings.webhook_max_bytes, too_large=WebhookTooLarge)
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
    body = await _read(request, settings.email_max_bytes, too_large=EmailTooLarge)
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


async def _read(
    request: Request, limit: int, *, too_large: type[WebhookTooLarge] | type[EmailTooLarge]
) -> bytes:
    """The body, refused as soon as it is known to be over ``limit`` (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.strip().isascii() and declared.strip().isdigit()):
            raise WebhookMalformed("The Content-Length header is not a number.")
        if int(declared) > limit:
            raise too_large(f"The body is larger than the {limit}-byte limit.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(f"The body is larger than the {limit}-byte limit.")
        chunks.append(chunk)
    return b"".join(chunks)
