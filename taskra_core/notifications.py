"""Emails Taskra sends to merchants: onboarding, billing reminders, privacy request notices,
and (only with consent) service updates.

::

    async with taskra.db.transaction() as session:
        await notify(taskra, session, store.id, "payment_failed", key=invoice_id, context={...})

A notice is a ``notify.send`` job (optionally delayed: the onboarding sequence) keyed by its
kind and ``key``, so the same notice is queued once however often the event that calls for it
repeats. The job decides at send time: a store that uninstalled gets no onboarding, a
merchant who did not opt in (or unsubscribed) gets no service updates. It renders
``email/<kind>.txt`` and ``email/<kind>.html`` and hands the email to the mail port
(:mod:`taskra_core.mail`), whose own idempotency key makes a retried job send once. Without
``RESEND_API_KEY`` the email lands in the logged outbox.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlmodel import col

from taskra_core.errors import InvalidInput
from taskra_core.mail import Email, enqueue_mail
from taskra_core.models import Account, Store
from taskra_core.team import app_url
from taskra_core.templating import make_environment, render_email

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from taskra_core.app import Taskra
    from taskra_core.billing.plans import Plan
    from taskra_core.billing.providers import UsageReport
    from taskra_core.jobs import JobContext

log = logging.getLogger(__name__)

NOTIFY_JOB = "notify.send"
ONBOARDING = (
    ("welcome", timedelta(0)),
    ("connect_email", timedelta(days=1)),
    ("enable_chat", timedelta(days=3)),
)
TRANSACTIONAL = frozenset(
    {
        *(kind for kind, _ in ONBOARDING),
        "allowance_80",
        "allowance_100",
        "payment_failed",
        "trial_ending",
        "privacy_request",
    }
)
# Sent only to merchants who opted in, each with a one-click unsubscribe.
MARKETING = frozenset({"service_update"})
KINDS = TRANSACTIONAL | MARKETING
UNSUBSCRIBE_PATH = "/notifications/unsubscribe"


async def notify(
    taskra: Taskra,
    session: AsyncSession,
    store_id: int,
    kind: str,
    *,
    key: str,
    context: dict[str, Any] | None = None,
    delay: timedelta = timedelta(0),
) -> int:
    """Queue notice ``kind`` for the store's merchant in ``session``'s transaction.

    ``key`` names the occasion (an invoice id, a period): the same kind and key again queue
    nothing. ``context`` (JSON values) fills the templates. Returns the job id.
    """
    if kind not in KINDS:
        raise InvalidInput(f"Unknown notice {kind!r}; use one of {', '.join(sorted(KINDS))}.")
    return await taskra.jobs.enqueue(
        session,
        NOTIFY_JOB,
        {"kind": kind, "key": key, "context": context or {}},
        store_id=store_id,
        idempotency_key=f"{NOTIFY_JOB}:{kind}:{store_id}:{key}",
        delay=delay.total_seconds(),
    )


async def start_onboarding(taskra: Taskra, session: AsyncSession, store: Store) -> None:
    """Queue the onboarding sequence for an installation of ``store`` (once per install)."""
    assert store.id is not None
    assert store.installed_at is not None
    installation = store.installed_at.isoformat()
    for kind, delay in ONBOARDING:
        await notify(taskra, session, store.id, kind, key=installation, delay=delay)


async def allowance_reminder(
    taskra: Taskra,
    session: AsyncSession,
    store: Store,
    plan: Plan,
    report: UsageReport,
    threshold: int,
) -> None:
    """Tell the merchant that the period's replies reached ``threshold`` % of the plan."""
    assert store.id is not None
    await notify(
        taskra,
        session,
        store.id,
        f"allowance_{threshold}",
        key=f"{report.period}:{plan.name}",
        context={
            "period": report.period,
            "plan_title": plan.title,
            "included_replies": plan.included_replies,
            "overage": f"{plan.overage_cents / 100:.2f} {plan.currency}"
            if plan.overage_cents
            else "",
        },
    )


def unsubscribe_token(taskra: Taskra, store_id: int) -> str:
    """A token that unsubscribes ``store_id`` from service updates, and nothing else."""
    secret = taskra.settings.secret_key
    if secret is None:
        raise InvalidInput("TASKRA_SECRET_KEY must be set to sign unsubscribe links.")
    digest = hmac.new(
        secret.get_secret_value().encode(), f"unsubscribe:{store_id}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def unsubscribe_url(taskra: Taskra, store_id: int) -> str:
    token = unsubscribe_token(taskra, store_id)
    return f"{app_url(taskra.settings)}{UNSUBSCRIBE_PATH}?store={store_id}&token={token}"


async def set_service_updates(
    taskra: Taskra, store_id: int, wanted: bool, *, token: str | None = None
) -> None:
    """Opt the store's merchant in or out of service updates. With ``token`` (a link from an
    email) the token must be the store's, else :class:`InvalidInput` and nothing changes."""
    if token is not None and not hmac.compare_digest(
        token.encode(), unsubscribe_token(taskra, store_id).encode()
    ):
        raise InvalidInput("This unsubscribe link is not valid.")
    async with taskra.db.transaction() as session:
        store = (
            await session.scalars(select(Store).where(col(Store.id) == store_id).with_for_update())
        ).first()
        if store is None:
            raise InvalidInput("This unsubscribe link is not valid.")
        store.settings = {**(store.settings or {}), "service_updates": wanted}
        store.updated_at = taskra.clock.now()
    log.info("service updates changed", extra={"store_id": store_id, "wanted": wanted})


async def _recipient(session: AsyncSession, store: Store) -> str | None:
    if store.email:
        return store.email
    return await session.scalar(
        select(col(Account.email))
        .where(
            col(Account.store_id) == store.id,
            col(Account.role) == "merchant",
            col(Account.deletion_requested_at).is_(None),
        )
        .order_by(col(Account.id))
        .limit(1)
    )


async def send_notice_job(ctx: JobContext) -> None:
    """``notify.send``: render the notice and queue it as an email, if it is still wanted."""
    kind = str(ctx.job.payload["kind"])
    store = await ctx.session.get(Store, ctx.job.store_id)
    if store is None:
        return
    assert store.id is not None
    if kind in MARKETING and not (store.settings or {}).get("service_updates"):
        log.info("service update skipped: no consent", extra={"store_id": store.id})
        return
    if kind not in ("payment_failed", "privacy_request") and store.uninstalled_at is not None:
        return  # onboarding and usage reminders mean nothing to a store that left
    to = await _recipient(ctx.session, store)
    if to is None:
        log.warning("notice not sent: the store has no email", extra={"store_id": store.id})
        return
    taskra = ctx.taskra
    context: dict[str, Any] = {
        **dict(ctx.job.payload.get("context") or {}),
        "store_name": store.name or store.domain,
        "app_url": app_url(taskra.settings),
        "unsubscribe_url": unsubscribe_url(taskra, store.id) if kind in MARKETING else "",
    }
    env = make_environment(taskra.hooks.template_dirs())
    subject, text = render_email(env, f"email/{kind}.txt", context)
    html = env.get_template(f"email/{kind}.html").render(context)
    headers: dict[str, str] = {}
    if kind in MARKETING:
        # RFC 8058: mail clients show an unsubscribe button that POSTs to this address.
        headers["List-Unsubscribe"] = f"<{context['unsubscribe_url']}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email = Email(
        to=to,
        subject=subject,
        text=text,
        html=html,
        headers=headers,
        idempotency_key=f"notice-{ctx.job.idempotency_key or ctx.job.id}",
    )
    await enqueue_mail(taskra, ctx.session, email, store_id=store.id)
