"""Resend's webhook events: received mail, bounces and complaints.

``email.received`` carries metadata only. The store is found from its recipients right away
(mail for an unknown address is refused and nothing is stored), then a durable job keyed by
Resend's email id fetches the body with the Resend SDK and hands it to the inbox: a Resend
outage delays the message, never loses it, and a repeated event queues nothing new.

``email.bounced`` (permanent) and ``email.complained`` mark the customer's address in the
store named by the ``taskra_store`` tag that every reply carries (see ``outbound``).
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from sqlmodel import col, update

from taskra_core.errors import ConfigurationError, EmailRejected, MailRejected
from taskra_core.jobs import JobContext
from taskra_core.mail import resend_error
from taskra_core.models import Customer, JobRecord

from .addresses import store_for_recipients
from .receive import receive_email

if TYPE_CHECKING:
    from taskra_core.app import Taskra

log = logging.getLogger(__name__)
FETCH_JOB = "email.fetch_received"
STORE_TAG = "taskra_store"
# Headers rebuilt from Resend's JSON; the body parts are rebuilt from its text and html.
_SKIP_HEADERS = frozenset({"content-type", "content-transfer-encoding", "mime-version"})


async def handle_event(taskra: Taskra, event: dict[str, Any]) -> dict[str, Any]:
    """Act on one verified Resend event; returns what was done, for the response body."""
    kind = str(event.get("type") or "")
    data: dict[str, Any] = event["data"]
    if kind == "email.received":
        return await _received(taskra, data)
    if kind == "email.complained" or (
        kind == "email.bounced" and str((data.get("bounce") or {}).get("type")) == "Permanent"
    ):
        return await _mark(taskra, data, "complained" if kind == "email.complained" else "bounced")
    return {"status": "ignored", "type": kind}


async def _received(taskra: Taskra, data: dict[str, Any]) -> dict[str, Any]:
    email_id = str(data.get("email_id") or "")
    if not email_id or len(email_id) > 255:
        raise EmailRejected("The email.received event names no email_id.")
    recipients = [str(r) for key in ("received_for", "to", "cc") for r in data.get(key) or []]
    store = await store_for_recipients(taskra, recipients)
    async with taskra.db.transaction() as session:
        await taskra.jobs.enqueue(
            session,
            FETCH_JOB,
            {"email_id": email_id, "recipients": recipients[:50]},
            store_id=store.id,
            idempotency_key=f"{FETCH_JOB}:{email_id}",
        )
    return {"status": "queued", "email_id": email_id}


async def _mark(taskra: Taskra, data: dict[str, Any], status: str) -> dict[str, Any]:
    tags = data.get("tags") or {}
    store_ref = str(tags.get(STORE_TAG, "")) if isinstance(tags, dict) else ""
    if not (store_ref.isascii() and store_ref.isdigit()) or len(store_ref) > 18:
        # Not one of our replies (or sent before tags were added): no store to scope it to.
        return {"status": "ignored", "reason": f"no {STORE_TAG} tag"}
    addresses = [str(a).strip().lower() for a in data.get("to") or [] if a]
    now = taskra.clock.now()
    async with taskra.db.transaction() as session:
        result = await session.execute(
            update(Customer)
            .where(
                col(Customer.store_id) == int(store_ref),
                col(Customer.email).in_(addresses),
            )
            .values(email_status=status, email_status_at=now, updated_at=now)
        )
    marked = int(getattr(result, "rowcount", 0) or 0)
    log.info("customer email marked", extra={"store_id": int(store_ref), "status": status})
    return {"status": status, "customers": marked}


async def fetch_received(ctx: JobContext) -> None:
    """``email.fetch_received``: fetch a received email's body from Resend and store it."""
    taskra = ctx.taskra
    email_id = str(ctx.job.payload["email_id"])
    settings = taskra.settings
    if settings.resend_api_key is None:
        raise ConfigurationError(
            "RESEND_API_KEY is not set, so received email cannot be fetched from Resend."
        )
    import resend  # here: the SDK costs ~0.3 s to import and most processes never need it
    import resend.exceptions

    # The SDK reads its key and address from module attributes when a request is built; set
    # them just before the call, with no await in between (another client may share them).
    resend.api_key = settings.resend_api_key.get_secret_value()
    resend.api_url = settings.resend_api_url
    try:
        fetched = await resend.Emails.Receiving.get_async(email_id)
    except resend.exceptions.ResendError as exc:
        error = resend_error(exc)
        if isinstance(error, MailRejected):
            await _refused(ctx, f"Resend refused to return the email: {error}")
            return
        raise error from None
    raw = to_mime(dict(fetched))
    try:
        received = await receive_email(
            taskra,
            raw,
            recipients=[str(r) for r in ctx.job.payload.get("recipients") or []],
            source="resend",
        )
    except EmailRejected as exc:  # a limit, or the store is gone: retrying cannot help
        await _refused(ctx, str(exc))
        return
    await _result(ctx, {"message_id": received.message.id, "created": received.created})


async def _refused(ctx: JobContext, reason: str) -> None:
    log.warning("received email not stored", extra={"job_id": ctx.job.id, "error": reason})
    await _result(ctx, {"refused": reason[:500]})


async def _result(ctx: JobContext, result: dict[str, Any]) -> None:
    """Keep the outcome on the job row, where ``taskra jobs`` shows it to an operator."""
    await ctx.session.execute(
        update(JobRecord)
        .where(col(JobRecord.id) == ctx.job.id)
        .values(payload={**ctx.job.payload, "result": result})
    )


def to_mime(fetched: dict[str, Any]) -> bytes:
    """Resend's JSON for a received email, as the RFC 5322 message it came from.

    Rebuilding the message lets one parser (reply stripping, sanitizing, auto-reply
    detection) handle every inbound path. Attachments stay at Resend; their metadata is kept.
    """
    message = EmailMessage()
    headers = fetched.get("headers") or {}
    if isinstance(headers, dict):
        for name, value in headers.items():
            if str(name).lower() in _SKIP_HEADERS or not isinstance(value, str):
                continue
            try:
                message[str(name)] = value
            except (ValueError, TypeError):
                continue  # a header the stdlib will not write: the JSON fields still cover it
    _default(message, "From", fetched.get("from"))
    _default(message, "To", ", ".join(fetched.get("to") or []))
    _default(message, "Cc", ", ".join(fetched.get("cc") or []))
    _default(message, "Subject", fetched.get("subject"))
    _default(message, "Message-ID", fetched.get("message_id"))
    text = fetched.get("text") or ""
    html = fetched.get("html") or ""
    if text or not html:
        message.set_content(text)
        if html:
            message.add_alternative(html, subtype="html")
    else:
        message.set_content(html, subtype="html")
    return bytes(message)


def _default(message: EmailMessage, name: str, value: Any) -> None:
    if value and name not in message:
        try:
            message[name] = str(value)
        except (ValueError, TypeError):
            return
