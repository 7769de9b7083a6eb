"""The core schema (DESIGN section 3) as SQLModel tables.

Every table that holds a store's data carries ``store_id``, and every query filters on it:
one store must never see another's rows. Timestamps are aware UTC (:class:`UTCDateTime`).
Secrets are stored only as ciphertext (``*_enc`` columns, see :mod:`taskra_core.crypto`).
Later features change this schema only through migrations; a test checks that the two agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from taskra_core.db import UTCDateTime

# Named constraints, so migrations (and SQLite's batch mode) can refer to them by name.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL, INTEGER on SQLite (only INTEGER PRIMARY KEY autoincrements there).
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _pk() -> Any:
    return Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))


def _store_fk(*, nullable: bool = False) -> Any:
    return Field(
        default=None if nullable else ...,
        sa_column=Column(
            BigId, ForeignKey("stores.id", ondelete="CASCADE"), nullable=nullable, index=True
        ),
    )


def _fk(target: str, *, nullable: bool = False, ondelete: str = "CASCADE") -> Any:
    return Field(
        default=None if nullable else ...,
        sa_column=Column(
            BigId, ForeignKey(target, ondelete=ondelete), nullable=nullable, index=True
        ),
    )


def _ts(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(
        default=None,
        sa_type=UTCDateTime,
        nullable=nullable,
        index=index,
    )


def _new_dict() -> dict[str, Any]:
    return {}


def _new_list() -> list[Any]:
    return []


def _json(default_factory: Any = _new_dict) -> Any:
    # Python functions, not the dict and list builtins: pydantic reads a default factory's
    # signature on every construction, and for a builtin that means parsing its text
    # signature (about 0.1 ms per field; most of the cost of building a Draft).
    return Field(default_factory=default_factory, sa_type=JSON, nullable=False)


class Store(SQLModel, table=True):
    __tablename__ = "stores"

    id: int | None = _pk()
    domain: str = Field(max_length=255, unique=True, index=True)
    name: str = Field(default="", max_length=255)
    email: str | None = Field(default=None, max_length=320)
    currency: str | None = Field(default=None, max_length=3)
    plan: str = Field(default="free", max_length=64)
    access_token_enc: str | None = None
    access_token_expires_at: datetime | None = _ts()
    refresh_token_enc: str | None = None
    refresh_token_expires_at: datetime | None = _ts()
    scopes: str = ""
    settings: dict[str, Any] = _json()
    installed_at: datetime | None = _ts()
    uninstalled_at: datetime | None = _ts()
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class Account(SQLModel, table=True):
    """A merchant or support agent who signs in to a store's inbox.

    ``shopify_user_id`` is the Shopify staff member (the ID token's ``sub``) the account was
    recorded from, if any; without a password such an account works only inside Shopify admin.
    """

    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("store_id", "email"),
        UniqueConstraint("store_id", "shopify_user_id"),
    )

    id: int | None = _pk()
    store_id: int = _store_fk()
    name: str = Field(default="", max_length=255)
    email: str = Field(max_length=320)
    password_hash: str | None = None
    role: str = Field(default="agent", max_length=32)
    shopify_user_id: str | None = Field(default=None, max_length=64)
    deletion_requested_at: datetime | None = _ts()
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class Customer(SQLModel, table=True):
    """A store's customer (end user); emails are normalized and unique per store."""

    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("store_id", "email"),
        # The retention sweep finds customers inactive for a year (taskra_core.retention).
        Index("ix_customers_store_updated", "store_id", "updated_at"),
    )

    id: int | None = _pk()
    store_id: int = _store_fk()
    email: str = Field(max_length=320)
    name: str | None = Field(default=None, max_length=255)
    shopify_customer_id: str | None = Field(default=None, max_length=64)
    ai_processing_objected: bool = False
    # Set by the email provider's bounce and complaint events: "bounced" | "complained".
    email_status: str | None = Field(default=None, max_length=16)
    email_status_at: datetime | None = _ts()
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class Conversation(SQLModel, table=True):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_store_status", "store_id", "status", "updated_at"),
        # Keyset pagination of the inbox: newest activity first.
        Index("ix_conversations_store_recent", "store_id", "last_message_at", "id"),
        Index("ix_conversations_thread_key", "store_id", "channel", "thread_key"),
        Index("ix_conversations_subject", "store_id", "customer_id", "normalized_subject"),
    )

    id: int | None = _pk()
    store_id: int = _store_fk()
    customer_id: int = _fk("customers.id")
    channel: str = Field(max_length=32)
    status: str = Field(default="open", max_length=16)
    snoozed_until: datetime | None = _ts()
    assignee_id: int | None = _fk("accounts.id", nullable=True, ondelete="SET NULL")
    subject: str = ""
    # "Re: Fwd: Where is my order?" -> "where is my order?": threads replies by subject.
    normalized_subject: str = Field(default="", max_length=255)
    # A channel's own thread id (a chat session); email threads by Message-ID instead.
    thread_key: str | None = Field(default=None, max_length=255)
    escalated: bool = False
    tags: list[str] = _json(_new_list)
    priority: str = Field(default="normal", max_length=16)
    intent: str | None = Field(default=None, max_length=32)
    first_response_at: datetime | None = _ts()
    resolved_at: datetime | None = _ts()
    last_message_at: datetime | None = _ts()
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class ConversationRead(SQLModel, table=True):
    """When an agent last read a conversation: unread means newer messages than this."""

    __tablename__ = "conversation_reads"
    __table_args__ = (UniqueConstraint("conversation_id", "account_id"),)

    id: int | None = _pk()
    store_id: int = _store_fk()
    conversation_id: int = _fk("conversations.id")
    account_id: int = _fk("accounts.id")
    read_at: datetime = _ts(nullable=False)


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("store_id", "channel", "channel_message_id"),
        Index("ix_messages_store_created", "store_id", "created_at"),
    )

    id: int | None = _pk()
    store_id: int = _store_fk()
    conversation_id: int = _fk("conversations.id")
    channel: str = Field(max_length=32)
    channel_message_id: str | None = Field(default=None, max_length=998)
    direction: str = Field(max_length=16)  # inbound | outbound | note
    author: str = Field(max_length=16)  # customer | agent | ai
    author_account_id: int | None = _fk("accounts.id", nullable=True, ondelete="SET NULL")
    text: str = ""
    html: str | None = None
    # "metadata" is reserved by SQLAlchemy's declarative base.
    meta: dict[str, Any] = _json()
    received_at: datetime | None = _ts()
    created_at: datetime = _ts(nullable=False)


class Draft(SQLModel, table=True):
    """An AI-drafted reply to one inbound message, with its cost and provenance."""

    __tablename__ = "drafts"
    __table_args__ = (
        Index("ix_drafts_message", "store_id", "message_id"),
        # Acceptance per intent (see taskra_core.drafting.service).
        Index("ix_drafts_intent", "store_id", "intent", "outcome"),
    )

    id: int | None = _pk()
    store_id: int = _store_fk()
    conversation_id: int = _fk("conversations.id")
    message_id: int = _fk("messages.id")
    text: str = ""
    model: str = Field(default="", max_length=128)
    sources: list[str] = _json(_new_list)
    escalation_reasons: list[str] = _json(_new_list)
    intent: str | None = Field(default=None, max_length=32)
    language: str | None = Field(default=None, max_length=16)
    confidence: float | None = None
    input_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    output_tokens: int = 0
    cost_micros: int = 0  # millionths of a US dollar: exact sums, no float drift
    latency_ms: int | None = None
    # drafted | escalated | auto_send | approved | sent | discarded | failed | off
    state: str = Field(default="drafted", max_length=16)
    # Actions (refund, cancel, ...) the reply proposes; a person approves them, never the AI.
    proposals: list[dict[str, Any]] = _json(_new_list)
    needs_verification: bool = False
    error: str | None = None
    # What the merchant did with it: unedited | edited | discarded | auto_sent.
    outcome: str | None = Field(default=None, max_length=16)
    final_text: str | None = None
    decided_at: datetime | None = _ts()
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class KnowledgeItem(SQLModel, table=True):
    """A product, policy, FAQ or plugin-provided passage, addressed by its source id."""

    __tablename__ = "knowledge_items"
    __table_args__ = (
        UniqueConstraint("store_id", "source_id"),
        # Drafting's store-profile cache checks policies' and FAQs' freshness through it.
        Index("ix_knowledge_items_kind", "store_id", "kind", "updated_at"),
    )

    id: int | None = _pk()
    store_id: int = _store_fk()
    source_id: str = Field(max_length=255)  # product:<handle>, policy:<TYPE>, faq:<key>
    kind: str = Field(max_length=32)
    title: str = ""
    body: str = ""
    data: dict[str, Any] = _json()
    # sha256 of what was imported: re-importing unchanged data writes nothing.
    content_hash: str = Field(default="", max_length=64)
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class KnowledgePassage(SQLModel, table=True):
    """A searchable piece of a knowledge item; long policies become several passages that
    all keep their item's source id."""

    __tablename__ = "knowledge_passages"
    __table_args__ = (Index("ix_knowledge_passages_source", "store_id", "source_id"),)

    id: int | None = _pk()
    store_id: int = _store_fk()
    item_id: int = _fk("knowledge_items.id")
    source_id: str = Field(max_length=255)
    ordinal: int = 0
    title: str = ""
    text: str = ""
    # Extra searchable words that are not prose: product type, vendor, tags, options.
    keywords: str = ""


class Order(SQLModel, table=True):
    """A store's order as Shopify describes it (Admin GraphQL shape in ``data``), kept so an
    offline store can answer order questions; live stores look orders up through plugins."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("store_id", "name"),
        Index("ix_orders_store_email", "store_id", "email"),
    )

    id: int | None = _pk()
    store_id: int = _store_fk()
    name: str = Field(max_length=64)  # "#1001"
    email: str | None = Field(default=None, max_length=320)  # normalized lower-case
    shopify_id: str | None = Field(default=None, max_length=64)
    placed_at: datetime | None = _ts()
    data: dict[str, Any] = _json()
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class Usage(SQLModel, table=True):
    """What a store used in one billing period (``YYYY-MM``)."""

    __tablename__ = "usage"
    __table_args__ = (UniqueConstraint("store_id", "period"),)

    id: int | None = _pk()
    store_id: int = _store_fk()
    period: str = Field(max_length=7)
    ai_replies: int = 0
    messages_processed: int = 0
    input_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    output_tokens: int = 0
    cost_micros: int = 0
    updated_at: datetime = _ts(nullable=False)


class PrivacyRequest(SQLModel, table=True):
    """The ledger of data-subject requests; each is due 30 days after it was received."""

    __tablename__ = "privacy_requests"

    id: int | None = _pk()
    store_id: int | None = _store_fk(nullable=True)
    kind: str = Field(max_length=32)  # access | erasure | portability | rectification | objection
    subject: str = Field(max_length=320)  # masked in logs; the email or customer id
    source: str = Field(max_length=64)  # shopify webhook, email, admin, cli
    received_at: datetime = _ts(nullable=False)
    due_at: datetime = _ts(nullable=False, index=True)
    completed_at: datetime | None = _ts()
    # completed | nothing_held | refused: what was done (details in ``result``).
    outcome: str | None = Field(default=None, max_length=32)
    result: dict[str, Any] = _json()


class PrivacyExport(SQLModel, table=True):
    """A compiled copy of what Taskra holds on one customer, for the merchant to download.

    Personal data itself, so ``data`` is sealed (AES-256-GCM) when a secret key is set, it
    expires (``expires_at``), and it goes with the customer on erasure (cascade).
    """

    __tablename__ = "privacy_exports"

    id: int | None = _pk()
    store_id: int = _store_fk()
    customer_id: int | None = _fk("customers.id", nullable=True)
    request_id: int | None = _fk("privacy_requests.id", nullable=True, ondelete="SET NULL")
    data: str = ""
    sealed: bool = False
    size_bytes: int = 0
    created_at: datetime = _ts(nullable=False)
    expires_at: datetime = _ts(nullable=False, index=True)


class BillingRecord(SQLModel, table=True):
    """Invoice and payment metadata (never card data); kept for 7 years."""

    __tablename__ = "billing_records"
    __table_args__ = (UniqueConstraint("provider", "external_id"),)

    id: int | None = _pk()
    # Billing records outlive a store's other data (tax law), so no cascade on delete.
    store_id: int | None = _fk("stores.id", nullable=True, ondelete="SET NULL")
    provider: str = Field(max_length=16)  # shopify | stripe
    kind: str = Field(max_length=32)
    external_id: str = Field(max_length=255)
    amount_cents: int = 0
    currency: str = Field(default="USD", max_length=3)
    status: str = Field(default="", max_length=32)
    occurred_at: datetime = _ts(nullable=False, index=True)
    data: dict[str, Any] = _json()


class BillingSubscription(SQLModel, table=True):
    """A store's subscription with a billing provider (Shopify or Stripe), as last reported.

    ``last_event_at`` is the provider's timestamp of the newest event applied: an older event
    arriving late (webhooks are not ordered) changes nothing. ``data`` keeps provider ids a
    later call needs (Shopify's usage line item); never card data.
    """

    __tablename__ = "billing_subscriptions"
    __table_args__ = (UniqueConstraint("provider", "external_id"),)

    id: int | None = _pk()
    store_id: int = _store_fk()
    provider: str = Field(max_length=16)  # shopify | stripe
    external_id: str = Field(max_length=255)  # gid://shopify/AppSubscription/1 | sub_... | cs_...
    customer_id: str | None = Field(default=None, max_length=255)  # Stripe customer
    plan: str = Field(max_length=64)
    # pending | active | trialing | past_due | canceled | declined | expired | frozen | ...
    status: str = Field(default="pending", max_length=32)
    current_period_end: datetime | None = _ts()
    trial_ends_at: datetime | None = _ts()
    last_event_at: datetime | None = _ts()
    data: dict[str, Any] = _json()
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class JobRecord(SQLModel, table=True):
    """One durable job. See :mod:`taskra_core.jobs` for the state machine."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_due", "state", "run_after"),
        # The retention sweep finds finished jobs by age.
        Index("ix_jobs_finished", "state", "finished_at"),
    )

    id: int | None = _pk()
    store_id: int | None = _store_fk(nullable=True)
    kind: str = Field(max_length=128, index=True)
    payload: dict[str, Any] = _json()
    state: str = Field(default="queued", max_length=16)  # queued | running | done | dead
    attempts: int = 0
    max_attempts: int = 8
    run_after: datetime = _ts(nullable=False)
    lease_until: datetime | None = _ts()
    lease_token: str | None = Field(default=None, max_length=64)
    locked_by: str | None = Field(default=None, max_length=128)
    last_error: str | None = None
    idempotency_key: str | None = Field(default=None, max_length=255, unique=True)
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)
    finished_at: datetime | None = _ts()


class WebhookReceipt(SQLModel, table=True):
    """A webhook delivery as acknowledged: de-duplication, the payload its job reads, audit.

    A delivery is a duplicate if its ``delivery_id`` (X-Shopify-Webhook-Id, the same on every
    retry) or, for the same shop, its ``event_id`` (X-Shopify-Event-Id, shared by deliveries
    of one event) was seen before. NULL event ids never collide.
    """

    __tablename__ = "webhook_receipts"
    __table_args__ = (
        UniqueConstraint("source", "delivery_id"),
        UniqueConstraint("source", "shop_domain", "event_id"),
        # The retention sweep finds old receipts by age.
        Index("ix_webhook_receipts_received_at", "received_at"),
    )

    id: int | None = _pk()
    store_id: int | None = _store_fk(nullable=True)
    source: str = Field(max_length=32)  # shopify | stripe | resend | ...
    topic: str = Field(max_length=128)
    delivery_id: str = Field(max_length=255)  # X-Shopify-Webhook-Id, Stripe event id, svix-id
    event_id: str | None = Field(default=None, max_length=255)
    shop_domain: str | None = Field(default=None, max_length=255)
    api_version: str | None = Field(default=None, max_length=32)
    triggered_at: datetime | None = _ts()
    received_at: datetime = _ts(nullable=False)
    # queued (a job will run it) | done | ignored (no handler) | failed (body unusable)
    status: str = Field(default="queued", max_length=16)
    error: str | None = None
    payload: dict[str, Any] = _json()
    processed_at: datetime | None = _ts()
    job_id: int | None = _fk("jobs.id", nullable=True, ondelete="SET NULL")


class AccountSession(SQLModel, table=True):
    """A standalone sign-in (outside Shopify admin). Only the SHA-256 of the session token is
    stored, so a leaked table cannot be replayed as cookies; revoking sets ``revoked_at``."""

    __tablename__ = "account_sessions"
    # The retention sweep finds expired sessions.
    __table_args__ = (Index("ix_account_sessions_expires_at", "expires_at"),)

    id: int | None = _pk()
    store_id: int = _store_fk()
    account_id: int = _fk("accounts.id")
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _ts(nullable=False)
    expires_at: datetime = _ts(nullable=False)
    revoked_at: datetime | None = _ts()


class LoginLink(SQLModel, table=True):
    """A one-time link, stored as the SHA-256 of its token; ``used_at`` makes it single use.
    ``purpose`` says what it does: ``login`` signs in, ``password`` sets a password (and then
    signs in); a link of one purpose never works as the other."""

    __tablename__ = "login_links"
    # The retention sweep finds expired links.
    __table_args__ = (Index("ix_login_links_expires_at", "expires_at"),)

    id: int | None = _pk()
    store_id: int = _store_fk()
    account_id: int = _fk("accounts.id")
    token_hash: str = Field(max_length=64, unique=True)
    purpose: str = Field(
        default="login", max_length=16, sa_column_kwargs={"server_default": "login"}
    )
    created_at: datetime = _ts(nullable=False)
    expires_at: datetime = _ts(nullable=False)
    used_at: datetime | None = _ts()


class LoginFailure(SQLModel, table=True):
    """One failed sign-in, counted per email and per client to rate-limit guessing. Not
    store-scoped: a sign-in names an email, not a store."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_email", "email", "failed_at"),
        Index("ix_login_failures_client", "client_key", "failed_at"),
        # The retention sweep finds failures older than the rate-limit window.
        Index("ix_login_failures_failed_at", "failed_at"),
    )

    id: int | None = _pk()
    email: str = Field(max_length=320)  # normalized lower-case
    client_key: str = Field(max_length=255)  # the client's address, as the shell sees it
    failed_at: datetime = _ts(nullable=False)


class ChatSession(SQLModel, table=True):
    """A storefront chat visitor's session, bound to one store (see ``taskra_chat``).

    The browser keeps a random token; only its SHA-256 is stored. ``public_id`` is the chat
    conversation's thread key. ``shopify_customer_id`` is the logged-in customer the app proxy
    vouched for when the session began (the session then serves only that customer);
    ``email`` is what an anonymous visitor typed (unverified).
    """

    __tablename__ = "chat_sessions"

    id: int | None = _pk()
    store_id: int = _store_fk()
    public_id: str = Field(max_length=32, unique=True)
    token_hash: str = Field(max_length=64, unique=True)
    shopify_customer_id: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=320)
    created_at: datetime = _ts(nullable=False)
    last_seen_at: datetime = _ts(nullable=False)


class ChatRateCounter(SQLModel, table=True):
    """Requests counted per store, bucket (a visitor, the store, a client) and fixed window,
    in the database so that every web process shares one count."""

    __tablename__ = "chat_rate_counters"
    __table_args__ = (
        UniqueConstraint("store_id", "bucket", "window_start"),
        Index("ix_chat_rate_counters_window", "window_start"),
    )

    id: int | None = _pk()
    store_id: int = _store_fk()
    bucket: str = Field(max_length=80)
    window_start: datetime = _ts(nullable=False)
    count: int = 0
