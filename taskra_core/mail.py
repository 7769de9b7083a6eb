"""The mail port: how Taskra sends its own emails (invitations, set-a-password links).

::

    email = Email(to="jo@example.com", subject="Welcome", text="...", idempotency_key="invite-7")
    async with taskra.db.transaction() as session:
        ...                                    # the change that calls for the email
        await enqueue_mail(taskra, session, email, store_id=store_id)

The email leaves in the ``mail.send`` job, so it exists if and only if the change committed,
and a Resend outage only delays it. The job hands it to ``taskra.mailer``: a
:class:`ResendMailer` when ``RESEND_API_KEY`` is set, otherwise an :class:`OutboxMailer`,
which sends nothing but logs each email (links included) and keeps it, so the demo and tests
need no keys. Every send carries the email's idempotency key, so a retried job never
delivers twice.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from taskra_core.errors import ConfigurationError, MailError, MailRejected, MailUnavailable

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from taskra_core.app import Taskra
    from taskra_core.jobs import JobContext
    from taskra_core.settings import Settings

log = logging.getLogger(__name__)

MAIL_JOB = "mail.send"
RESEND_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Email:
    """One email. ``sender`` defaults to ``TASKRA_EMAIL_FROM``; ``idempotency_key`` is the
    same on every retry of the same email (the provider drops repeats)."""

    to: str
    subject: str
    text: str
    html: str | None = None
    reply_to: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None
    sender: str | None = None
    #: Provider tags (Resend echoes them in delivery, bounce and complaint events).
    tags: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "headers": dict(self.headers), "tags": dict(self.tags)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Email:
        return cls(
            **{
                **data,
                "headers": dict(data.get("headers") or {}),
                "tags": dict(data.get("tags") or {}),
            }
        )


class Mailer(ABC):
    """Sends one email and returns the provider's id for it, or raises :class:`MailError`."""

    name: str = ""

    @abstractmethod
    async def send(self, email: Email) -> str:
        """Send ``email``; the same ``idempotency_key`` twice must not send it twice."""

    async def aclose(self) -> None:
        return None


class ResendMailer(Mailer):
    """Sends through the real ``resend`` SDK.

    The SDK keeps its key, address and HTTP client in module attributes, read when a request
    is made. They are set here from Settings, never at import, and again just before each
    send: another mailer in the same process (tests, an embedder's second Taskra) may have
    set its own since. No ``await`` sits between setting them and the SDK reading them.
    """

    name = "resend"

    def __init__(self, api_key: str, api_url: str, sender: str | None) -> None:
        import resend  # here, not at the top: importing it costs ~0.3 s and most runs never send
        import resend.exceptions

        self._resend = resend
        self._error = resend.exceptions.ResendError
        self._api_key, self._api_url, self.sender = api_key, api_url, sender
        # Our own bound, not whatever the SDK's default client has: a send that hangs past
        # it fails and is retried by its job (with the same idempotency key). Built once and
        # reused by every send.
        self._http = resend.HTTPXClient(timeout=RESEND_TIMEOUT_SECONDS)
        self._configure()

    def _configure(self) -> None:
        self._resend.api_key = self._api_key
        self._resend.api_url = self._api_url
        self._resend.default_async_http_client = self._http

    async def send(self, email: Email) -> str:
        sender = email.sender or self.sender
        if not sender:
            raise ConfigurationError(
                "TASKRA_EMAIL_FROM must be set to send email through Resend, e.g. "
                "'Taskra <support@example.com>' on a domain verified in Resend."
            )
        params: dict[str, Any] = {
            "from": sender,
            "to": [email.to],
            "subject": email.subject,
            "text": email.text,
        }
        if email.html is not None:
            params["html"] = email.html
        if email.reply_to is not None:
            params["reply_to"] = email.reply_to
        if email.headers:
            params["headers"] = dict(email.headers)
        if email.tags:
            params["tags"] = [{"name": k, "value": v} for k, v in email.tags.items()]
        options = {"idempotency_key": email.idempotency_key} if email.idempotency_key else None
        self._configure()
        try:
            sent = await self._resend.Emails.send_async(params, options)  # type: ignore[arg-type]
        except self._error as exc:
            raise resend_error(exc) from None
        message_id = sent.get("id") if isinstance(sent, Mapping) else None
        if not message_id:
            raise MailUnavailable("Resend accepted the email but returned no id; retrying.")
        return str(message_id)


def resend_error(exc: Any) -> MailError:
    """Taskra's error for a ``resend.exceptions.ResendError``, by what Resend answered."""
    code = int(exc.code) if re.fullmatch(r"[0-9]{3}", str(exc.code)) else 500
    kind = str(exc.error_type or "")
    said = f"Resend answered {code} ({kind}): {exc.message}"
    if kind == "HttpClientError":
        # The SDK's wrapper for connection failures and timeouts.
        return MailUnavailable(f"Resend could not be reached ({exc.message}); retrying later.")
    if code == 429 or code >= 500:
        return MailUnavailable(f"{said}; retrying later.", retry_after=_retry_after(exc.headers))
    if code in (401, 403):
        return MailRejected(f"{said}. Check RESEND_API_KEY.")
    return MailRejected(f"{said}. Check TASKRA_EMAIL_FROM and the recipient's address.")


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    value = {k.lower(): v for k, v in (headers or {}).items()}.get("retry-after")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None  # an HTTP date: the job's own backoff decides


class OutboxMailer(Mailer):
    """Sends nothing: logs each email at INFO (so a link in it can be followed) and keeps it
    in :attr:`outbox`. Used when ``RESEND_API_KEY`` is unset."""

    name = "outbox"

    def __init__(self) -> None:
        self.outbox: list[Email] = []
        self._ids: dict[str, str] = {}

    async def send(self, email: Email) -> str:
        key = email.idempotency_key
        if key is not None and key in self._ids:
            return self._ids[key]
        self.outbox.append(email)
        message_id = f"outbox-{len(self.outbox)}"
        if key is not None:
            self._ids[key] = message_id
        # The recipient goes in a field the log filter masks; the text is what the reader
        # needs, links included.
        log.info(
            "email kept in the outbox, not sent (RESEND_API_KEY is unset)\nSubject: %s\n\n%s",
            email.subject,
            email.text,
            extra={"to_email": email.to, "message_id": message_id},
        )
        return message_id


def make_mailer(settings: Settings) -> Mailer:
    """Resend when its key is set, else the outbox."""
    if settings.resend_api_key is None:
        return OutboxMailer()
    return ResendMailer(
        settings.resend_api_key.get_secret_value(), settings.resend_api_url, settings.email_from
    )


# --- the mail job ------------------------------------------------------------------------------


async def enqueue_mail(
    taskra: Taskra, session: AsyncSession, email: Email, *, store_id: int | None = None
) -> int:
    """Queue ``email`` in ``session``'s transaction; returns the job id. A second call with
    the same idempotency key returns the first job and queues nothing."""
    key = email.idempotency_key or uuid.uuid4().hex
    email = replace(email, idempotency_key=key)
    return await taskra.jobs.enqueue(
        session,
        MAIL_JOB,
        _seal(taskra, email),
        store_id=store_id,
        idempotency_key=f"{MAIL_JOB}:{key}",
    )


def _context(key: str) -> str:
    return f"jobs.payload:{MAIL_JOB}:{key}"


def _seal(taskra: Taskra, email: Email) -> dict[str, Any]:
    # Emails carry sign-in links; sealed, a copy of the job table cannot replay them.
    assert email.idempotency_key is not None
    if taskra.settings.secret_key is None:
        return {"email": email.as_dict()}
    sealed = taskra.cipher.encrypt(
        json.dumps(email.as_dict()), context=_context(email.idempotency_key)
    )
    return {"key": email.idempotency_key, "sealed": sealed}


def _open(taskra: Taskra, payload: Mapping[str, Any]) -> Email:
    if "sealed" in payload:
        key = str(payload["key"])
        data = json.loads(taskra.cipher.decrypt(str(payload["sealed"]), context=_context(key)))
        return Email.from_dict(data)
    return Email.from_dict(payload["email"])


async def send_mail_job(ctx: JobContext) -> None:
    """``mail.send``: hand the queued email to ``taskra.mailer``."""
    email = _open(ctx.taskra, ctx.job.payload)
    mailer = ctx.taskra.mailer
    message_id = await mailer.send(email)
    log.info(
        "email sent", extra={"job_id": ctx.job.id, "mailer": mailer.name, "message_id": message_id}
    )
