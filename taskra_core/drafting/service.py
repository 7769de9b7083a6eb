"""``Drafting`` (``taskra.drafting``): drafts stored against messages, the merchant's decisions
on them, autonomy, budget and usage.

The lifecycle of a draft::

    message_received ─▶ draft job ─▶ drafted ──approve──▶ approved ─▶ send job ─▶ sent
                                    escalated ─discard─▶ discarded
                                    auto_send ───────────────────────▶ send job ─▶ sent
                                    failed   (AI unavailable after N attempts, or refused)

Every write of the draft job goes through the job's session, so a draft, its usage, its
privacy request and its follow-up jobs are committed together with the job, exactly once.
Replies are sent by one ``send_reply`` job per customer message (its idempotency key), so a
customer never receives two replies to one message.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from taskra_core.drafting.context import ProfileCache, load_message, sender_of
from taskra_core.drafting.guardrails import is_privacy_request
from taskra_core.drafting.orders import Sender
from taskra_core.drafting.pipeline import DraftResult, compose
from taskra_core.drafting.policy import (
    Budget,
    autonomy_for,
    budget_status,
    period_of,
    record_usage,
    usage_in,
    with_autonomy,
)
from taskra_core.drafting.types import INTENTS
from taskra_core.errors import (
    ConfigurationError,
    InvalidInput,
    ModelRejected,
    ModelUnavailable,
    NotFound,
    UnknownReplyModel,
)
from taskra_core.inbox.messages import normalize_email
from taskra_core.knowledge.service import StoreRef, resolve_store_id
from taskra_core.models import Conversation, Customer, Draft, PrivacyRequest, Store

if TYPE_CHECKING:
    from taskra_core.app import Taskra
    from taskra_core.jobs import Job

log = logging.getLogger(__name__)

DRAFT_JOB = "draft"
SEND_JOB = "send_reply"
DRAFT_CREATED_JOB = "draft_created"
REPLY_SENT_JOB = "reply_sent"
PRIVACY_DUE_DAYS = 30
OPEN_STATES = ("drafted", "escalated")
_ERASURE = re.compile(
    r"\b(delete|erase|remove|forget|wipe|borr[ae]|elimin|suppr|effac|oubli)", re.IGNORECASE
)
# A drafted conversation's targeted UPDATE, built once; the columns it sets are the keys of
# the parameters it is run with. On the core table: no ORM synchronization to do.
_CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
_TOUCH_CONVERSATION = update(_CONVERSATIONS).where(
    _CONVERSATIONS.c.id == bindparam("where_id"),
    _CONVERSATIONS.c.store_id == bindparam("where_store"),
)


@dataclass(frozen=True)
class IntentAcceptance:
    """How a store's team treated drafts of one intent."""

    intent: str
    drafts: int
    unedited: int
    edited: int
    discarded: int
    auto_sent: int

    @property
    def acceptance_rate(self) -> float | None:
        """Share of reviewed drafts sent without an edit; ``None`` before any review."""
        reviewed = self.unedited + self.edited + self.discarded
        return round(self.unedited / reviewed, 4) if reviewed else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "acceptance_rate": self.acceptance_rate}


class Drafting:
    """Drafts for every store; each method takes the store and touches only its rows."""

    def __init__(self, taskra: Taskra) -> None:
        self.taskra = taskra
        self.profiles = ProfileCache()

    # --- trying it out ----------------------------------------------------------------------

    async def preview(
        self,
        store: StoreRef,
        *,
        text: str,
        from_email: str,
        channel: str = "email",
        subject: str = "",
    ) -> DraftResult:
        """Draft a reply to a message that is not stored (``taskra draft``).

        The sender counts as verified: an email's From address, or, for ``chat``, a
        logged-in storefront customer with that email. The model's usage counts towards
        the store's month, because it was paid for.
        """
        if not text.strip():
            raise InvalidInput("The message has no text.")
        email = normalize_email(from_email)
        async with self.taskra.db.session() as session:
            row = await _store(session, store)
            customer = await session.scalar(
                select(Customer).where(
                    col(Customer.store_id) == row.id, col(Customer.email) == email
                )
            )
        result = await compose(
            self.taskra,
            row,
            text=text.strip(),
            channel=channel,
            subject=subject,
            sender=Sender(email=email),
            customer_name=customer.name if customer else None,
            ai_objected=bool(customer and customer.ai_processing_objected),
        )
        if result.model_called:
            async with self.taskra.db.transaction() as session:
                assert row.id is not None
                await record_usage(
                    session,
                    self.taskra.db.dialect,
                    row.id,
                    self.taskra.clock.now(),
                    result.reply.usage,
                    result.cost_micros,
                )
        return result

    # --- the draft job ----------------------------------------------------------------------

    async def draft_message(
        self, session: AsyncSession, job: Job, store_id: int, message_id: int
    ) -> Draft | None:
        """Draft and store a reply to stored message ``message_id`` (the ``draft`` job).

        Writes go through ``session`` (the job's). Outages raise :class:`ModelUnavailable`
        while attempts remain, so the job retries with backoff; on the last attempt, or
        when the provider refuses the request, a ``failed`` draft says why.
        """
        taskra = self.taskra
        async with taskra.db.session() as read:
            try:
                ctx = await load_message(read, store_id, message_id)
            except NotFound:
                return None  # erased since it arrived (a privacy request): nothing to answer
        if ctx.drafted and not job.payload.get("regenerate"):
            return None  # drafted already (this job ran before and committed)
        if autonomy_for(ctx.store, None) == "off" and not job.payload.get("regenerate"):
            return None
        if ctx.store.uninstalled_at is not None:
            return None  # uninstalled since the message arrived: no AI work for the store
        now = taskra.clock.now()
        reply_number = 0  # this reply's number in the billing period, once it is recorded
        draft = Draft(
            store_id=store_id,
            conversation_id=ctx.conversation.id,  # type: ignore[arg-type]
            message_id=message_id,
            created_at=now,
            updated_at=now,
        )
        try:
            result = await compose(
                taskra,
                ctx.store,
                text=ctx.message.text,
                channel=ctx.message.channel,
                subject=ctx.subject,
                sender=sender_of(ctx.message, ctx.customer),
                customer_name=ctx.customer.name,
                history=ctx.history,
                ai_objected=ctx.customer.ai_processing_objected,
            )
        except ModelUnavailable as exc:
            if job.attempts < job.max_attempts:
                raise
            draft.state, draft.error = "failed", f"{exc} Gave up after {job.attempts} attempts."
        except (ModelRejected, ConfigurationError, UnknownReplyModel) as exc:
            draft.state, draft.error = "failed", str(exc)
        else:
            self._fill(draft, ctx.store, result, human_took_over=ctx.human_took_over)
            if result.model_called:
                reply_number = await record_usage(
                    session,
                    taskra.db.dialect,
                    store_id,
                    now,
                    result.reply.usage,
                    result.cost_micros,
                )
            if is_privacy_request(result.reasons):
                session.add(
                    _privacy_request(
                        ctx.store, ctx.customer, ctx.message.channel, ctx.message.text, now
                    )
                )
        if draft.state == "failed":
            log.warning("draft failed", extra={"message_id": message_id, "error": draft.error})
        session.add(draft)
        # A targeted UPDATE, not a merge of the copy read earlier: an agent may have changed
        # the conversation's tags or assignee while the model was thinking.
        changes: dict[str, Any] = {"updated_at": now}
        if draft.intent:
            changes["intent"] = draft.intent
        if draft.state in ("escalated", "failed"):
            changes["escalated"] = True
        if draft.state == "escalated":
            changes["priority"] = "high"
        where = {"where_id": ctx.conversation.id, "where_store": store_id}
        await session.execute(_TOUCH_CONVERSATION, {**where, **changes})
        await session.flush()
        assert draft.id is not None
        if reply_number:
            await taskra.billing.enqueue_metering(session, store_id, draft.id, reply_number, now)
        await taskra.jobs.enqueue(
            session,
            DRAFT_CREATED_JOB,
            {"draft_id": draft.id},
            store_id=store_id,
            idempotency_key=f"draft_created:{draft.id}",
        )
        if draft.state == "auto_send":
            await self._enqueue_send(session, draft)
        return draft

    def _fill(
        self, draft: Draft, store: Store, result: DraftResult, *, human_took_over: bool = False
    ) -> None:
        reply = result.reply
        draft.text = reply.text
        draft.model = reply.model
        draft.sources = list(reply.sources)
        draft.escalation_reasons = [str(r) for r in result.reasons]
        draft.intent = reply.intent
        draft.language = reply.language
        draft.confidence = reply.confidence
        draft.proposals = [p.as_dict() for p in reply.proposals]
        draft.needs_verification = result.verification_needed
        usage = reply.usage
        draft.input_tokens = usage.input_tokens
        draft.cache_write_tokens = usage.cache_write_tokens
        draft.cache_read_tokens = usage.cache_read_tokens
        draft.output_tokens = usage.output_tokens
        draft.cost_micros = result.cost_micros
        draft.latency_ms = result.latency_ms
        mode = autonomy_for(store, reply.intent)
        if result.escalate:
            draft.state = "escalated"
        elif mode == "off":
            draft.state = "off"
        elif mode == "auto_send" and reply.text and not reply.proposals and not human_took_over:
            draft.state, draft.outcome = "auto_send", "auto_sent"
        else:
            draft.state = "drafted"

    async def _enqueue_send(self, session: AsyncSession, draft: Draft) -> None:
        # Keyed by the customer's message, not the draft: whatever is approved or
        # regenerated later, that message gets one reply.
        await self.taskra.jobs.enqueue(
            session,
            SEND_JOB,
            {"draft_id": draft.id},
            store_id=draft.store_id,
            idempotency_key=f"send_reply:{draft.message_id}",
        )

    async def enqueue_draft(
        self, session: AsyncSession, store_id: int, message_id: int, *, regenerate: bool = False
    ) -> int:
        """Queue drafting of ``message_id``; a message gets one automatic draft job."""
        key = f"draft:{message_id}" if not regenerate else None
        return await self.taskra.jobs.enqueue(
            session,
            DRAFT_JOB,
            {"message_id": message_id, "regenerate": regenerate},
            store_id=store_id,
            idempotency_key=key,
            max_attempts=self.taskra.settings.draft_max_attempts,
        )

    async def regenerate(self, store_id: int, message_id: int) -> int:
        """Queue a fresh draft for stored customer message ``message_id``; returns the job id."""
        async with self.taskra.db.transaction() as session:
            await load_message(session, store_id, message_id)  # NotFound / InvalidInput
            return await self.enqueue_draft(session, store_id, message_id, regenerate=True)

    async def for_conversation(self, store_id: int, conversation_id: int) -> list[Draft]:
        """The drafts of a conversation, oldest first."""
        async with self.taskra.db.session() as session:
            return list(
                (
                    await session.scalars(
                        select(Draft)
                        .where(
                            col(Draft.store_id) == store_id,
                            col(Draft.conversation_id) == conversation_id,
                        )
                        .order_by(col(Draft.id))
                    )
                ).all()
            )

    # --- the merchant's decisions -----------------------------------------------------------

    async def get(self, store_id: int, draft_id: int) -> Draft:
        async with self.taskra.db.session() as session:
            return await _draft(session, store_id, draft_id)

    async def approve(self, store_id: int, draft_id: int, *, text: str | None = None) -> Draft:
        """Send draft ``draft_id``, as drafted or with the merchant's ``text``."""
        async with self.taskra.db.transaction() as session:
            draft = await _draft(session, store_id, draft_id, lock=True)
            if draft.state not in OPEN_STATES:
                raise InvalidInput(
                    f"Draft {draft_id} is {draft.state}; only a waiting draft can be approved."
                )
            final = (text if text is not None else draft.text).strip()
            if not final:
                raise InvalidInput("The reply is empty; write one before sending.")
            now = self.taskra.clock.now()
            draft.final_text = final
            draft.outcome = "unedited" if final == draft.text.strip() else "edited"
            draft.state, draft.decided_at, draft.updated_at = "approved", now, now
            await self._enqueue_send(session, draft)
            return draft

    async def discard(self, store_id: int, draft_id: int) -> Draft:
        async with self.taskra.db.transaction() as session:
            draft = await _draft(session, store_id, draft_id, lock=True)
            if draft.state not in (*OPEN_STATES, "failed"):
                raise InvalidInput(f"Draft {draft_id} is {draft.state}; it cannot be discarded.")
            now = self.taskra.clock.now()
            draft.state, draft.outcome, draft.decided_at, draft.updated_at = (
                "discarded",
                "discarded",
                now,
                now,
            )
            return draft

    async def acceptance(self, store: StoreRef) -> list[IntentAcceptance]:
        """Per intent: drafts made, and how many were sent unedited, edited or discarded."""
        async with self.taskra.db.session() as session:
            store_id = await resolve_store_id(session, store)
            rows = (
                await session.execute(
                    select(col(Draft.intent), col(Draft.outcome), func.count())
                    .where(col(Draft.store_id) == store_id, col(Draft.state) != "failed")
                    .group_by(col(Draft.intent), col(Draft.outcome))
                )
            ).all()
        counts: dict[str, dict[str, int]] = {}
        for intent, outcome, n in rows:
            bucket = counts.setdefault(intent or "other", {})
            bucket[outcome or "pending"] = bucket.get(outcome or "pending", 0) + int(n)
        return [
            IntentAcceptance(
                intent=intent,
                drafts=sum(c.values()),
                unedited=c.get("unedited", 0),
                edited=c.get("edited", 0),
                discarded=c.get("discarded", 0),
                auto_sent=c.get("auto_sent", 0),
            )
            for intent, c in sorted(counts.items())
        ]

    # --- settings ---------------------------------------------------------------------------

    async def set_autonomy(self, store: StoreRef, mode: str, intent: str | None = None) -> Store:
        async with self.taskra.db.transaction() as session:
            row = await _store(session, store, lock=True)
            row.settings = with_autonomy(row, mode, intent)
            row.updated_at = self.taskra.clock.now()
            return row

    async def set_budget(self, store: StoreRef, usd: float) -> Store:
        if not 0 <= usd <= 1_000_000:
            raise InvalidInput("The monthly AI budget must be between 0 and 1,000,000 USD.")
        async with self.taskra.db.transaction() as session:
            row = await _store(session, store, lock=True)
            row.settings = {**(row.settings or {}), "ai_budget_usd": usd}
            row.updated_at = self.taskra.clock.now()
            return row

    async def ai_state(self, store: StoreRef) -> dict[str, Any]:
        """Autonomy per intent, this month's budget, and acceptance per intent: what a merchant
        looks at before raising autonomy (``taskra ai show``, ``GET /api/v1/ai``)."""
        async with self.taskra.db.session() as session:
            row = await _store(session, store)
        acceptance = {a.intent: a for a in await self.acceptance(row)}
        return {
            "autonomy": {
                "default": autonomy_for(row, None),
                "intents": {intent: autonomy_for(row, intent) for intent in INTENTS},
            },
            "budget": (await self.budget(row)).as_dict(),
            "acceptance": [acceptance[i].as_dict() for i in INTENTS if i in acceptance],
        }

    async def usage(self, store: StoreRef, period: str | None = None) -> dict[str, Any]:
        """AI replies, messages processed, tokens and cost of one month (default: this one)."""
        if period is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", period):
            raise InvalidInput(f"A period is a month written YYYY-MM, not {period!r}.")
        async with self.taskra.db.session() as session:
            store_id = await resolve_store_id(session, store)
            return await usage_in(session, store_id, period or period_of(self.taskra.clock.now()))

    async def budget(self, store: StoreRef) -> Budget:
        async with self.taskra.db.session() as session:
            row = await _store(session, store)
            return await budget_status(session, row, self.taskra.settings, self.taskra.clock.now())


async def _store(session: AsyncSession, store: StoreRef, *, lock: bool = False) -> Store:
    store_id = await resolve_store_id(session, store)
    query = select(Store).where(col(Store.id) == store_id)
    row = (await session.scalars(query.with_for_update() if lock else query)).first()
    if row is None:
        raise NotFound(f"No store with id {store_id}.")
    return row


async def _draft(
    session: AsyncSession, store_id: int, draft_id: int, *, lock: bool = False
) -> Draft:
    query = select(Draft).where(col(Draft.id) == draft_id, col(Draft.store_id) == store_id)
    draft = (await session.scalars(query.with_for_update() if lock else query)).first()
    if draft is None:
        raise NotFound(f"No draft {draft_id} in this store.")
    return draft


def _privacy_request(
    store: Store, customer: Customer, channel: str, text: str, now: Any
) -> PrivacyRequest:
    """Open the ledger entry a data-protection request needs (due in 30 days)."""
    return PrivacyRequest(
        store_id=store.id,
        kind="erasure" if _ERASURE.search(text) else "access",
        subject=customer.email,
        source=channel,
        received_at=now,
        due_at=now + timedelta(days=PRIVACY_DUE_DAYS),
        result={"opened_by": "drafting guardrail"},
    )
