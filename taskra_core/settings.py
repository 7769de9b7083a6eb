"""Taskra's settings: one frozen object, read from the environment once at the entry point.

Every field names its environment variable through ``validation_alias`` so the documentation
(``docs/settings.md``) and the code cannot drift apart: a test reads the aliases and fails if
one is undocumented. Nothing else in Taskra reads ``os.environ``; code receives ``Settings``.
"""

from __future__ import annotations

import base64
import json
import os
import re
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from taskra_core.errors import ConfigurationError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./taskra.db"
# The newest Sonnet that the pinned anthropic SDK does not mark deprecated.
DEFAULT_MODEL = "claude-sonnet-4-6"
DEFAULT_SHOPIFY_API_VERSION = "2026-10"
DEFAULT_RESEND_API_URL = "https://api.resend.com"
DEFAULT_STRIPE_API_URL = "https://api.stripe.com"


class ModelPrice(BaseModel):
    """What a model costs, in USD per million tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_write: float = Field(ge=0)
    cache_read: float = Field(ge=0)


class PlanSettings(BaseModel):
    """A billing plan (see :mod:`taskra_core.billing.plans`); prices in cents."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = Field(min_length=1)
    price_cents: int = Field(ge=0)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    included_replies: int = Field(ge=0)
    overage_cents: int = Field(default=0, ge=0)
    overage_cap_cents: int = Field(default=0, ge=0)
    trial_days: int = Field(default=0, ge=0, le=365)
    stripe_price: str | None = None
    stripe_metered_price: str | None = None


def _env(name: str) -> Any:
    """Bind a field to exactly one environment variable (no implicit prefixing)."""
    return AliasChoices(name)


def _split_names(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class Settings(BaseSettings):
    """All of Taskra's configuration. Build it with :meth:`from_env` at the entry point."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="ignore",
        populate_by_name=True,
        case_sensitive=False,
        env_file=None,
    )

    # False only for Settings.from_values(), which ignores the environment.
    _reads_environment: ClassVar[bool] = True

    # --- core -----------------------------------------------------------------------------
    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        validation_alias=_env("TASKRA_DATABASE_URL"),
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://...",
    )
    secret_key: SecretStr | None = Field(
        None,
        validation_alias=_env("TASKRA_SECRET_KEY"),
        description="Base64 of 32 random bytes; encrypts stored tokens. `taskra keygen` makes one.",
    )
    previous_secret_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        (),
        validation_alias=_env("TASKRA_PREVIOUS_SECRET_KEYS"),
        description="Comma-separated older keys, still accepted for decryption during rotation.",
    )
    environment: Literal["development", "production"] = Field(
        "development",
        validation_alias=_env("TASKRA_ENV"),
        description="development: readable logs; production: JSON-lines logs.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias=_env("TASKRA_LOG_LEVEL"), description="Minimum log level."
    )
    now: datetime | None = Field(
        None,
        validation_alias=_env("TASKRA_NOW"),
        description="ISO time the clock starts from (demos, evaluations on fixed data).",
    )
    auto_migrate: bool = Field(
        True,
        validation_alias=_env("TASKRA_AUTO_MIGRATE"),
        description="Apply database migrations when the app starts (serve, worker, demo).",
    )
    disable_plugins: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        validation_alias=_env("TASKRA_DISABLE_PLUGINS"),
        description="Comma-separated plugin names never to load (see `taskra plugins`).",
    )
    trace_plugins: bool = Field(
        False,
        validation_alias=_env("TASKRA_TRACE_PLUGINS"),
        description="Log every hook call and its result (debugging plugins).",
    )

    thread_window_days: int = Field(
        14,
        ge=0,
        validation_alias=_env("TASKRA_THREAD_WINDOW_DAYS"),
        description="A message with the same sender and subject joins a conversation active "
        "this many days ago.",
    )

    # --- web --------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", validation_alias=_env("TASKRA_HOST"), description="Bind host.")
    port: int = Field(8000, validation_alias=_env("TASKRA_PORT"), description="Bind port.")
    metrics_token: SecretStr | None = Field(
        None,
        validation_alias=_env("TASKRA_METRICS_TOKEN"),
        description="Bearer token that GET /metrics requires. Unset: /metrics answers only "
        "requests from this machine (loopback) in development, and nobody in production.",
    )

    # --- jobs -------------------------------------------------------------------------------
    # 16 attempts, backing off from 2 s to the 1 h ceiling, span about 2.5 to 5 hours: a
    # remote service (Resend, Stripe, Shopify) down for that long is caught up with, not
    # left as dead jobs. At 8 they spanned only 2 to 4 minutes.
    job_max_attempts: int = Field(
        16,
        ge=1,
        validation_alias=_env("TASKRA_JOB_MAX_ATTEMPTS"),
        description="Attempts before a job is marked dead (a handler may set its own).",
    )
    job_lease_seconds: float = Field(
        300.0,
        gt=0,
        validation_alias=_env("TASKRA_JOB_LEASE_SECONDS"),
        description="How long a claimed job stays reserved without renewal by its worker.",
    )
    job_timeout_seconds: float = Field(
        3600.0,
        gt=0,
        validation_alias=_env("TASKRA_JOB_TIMEOUT_SECONDS"),
        description="Longest one attempt of a job may run before it is cancelled and retried.",
    )
    job_backoff_base_seconds: float = Field(
        2.0,
        gt=0,
        validation_alias=_env("TASKRA_JOB_BACKOFF_BASE_SECONDS"),
        description="First retry delay; doubles per attempt, with jitter.",
    )
    job_backoff_max_seconds: float = Field(
        3600.0,
        gt=0,
        validation_alias=_env("TASKRA_JOB_BACKOFF_MAX_SECONDS"),
        description="Longest retry delay.",
    )
    worker_concurrency: int = Field(
        4,
        ge=1,
        validation_alias=_env("TASKRA_WORKER_CONCURRENCY"),
        description="Jobs one worker process runs at the same time.",
    )
    worker_poll_seconds: float = Field(
        1.0,
        gt=0,
        validation_alias=_env("TASKRA_WORKER_POLL_SECONDS"),
        description="How often an idle worker looks for due jobs.",
    )
    events_poll_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        validation_alias=_env("TASKRA_EVENTS_POLL_SECONDS"),
        description="How often an open admin page's live-update stream looks for changes.",
    )
    events_stream_seconds: float = Field(
        25.0,
        gt=0,
        le=600,
        validation_alias=_env("TASKRA_EVENTS_STREAM_SECONDS"),
        description=(
            "How long one live-update stream stays open before the page reconnects (keeps "
            "shutdowns quick and re-checks the session)."
        ),
    )
    worker_shutdown_grace_seconds: float = Field(
        30.0,
        ge=0,
        validation_alias=_env("TASKRA_WORKER_SHUTDOWN_GRACE_SECONDS"),
        description="On shutdown, how long running jobs may finish before they are released.",
    )
    worker_yield_seconds: float = Field(
        2.0,
        ge=0,
        le=60,
        validation_alias=_env("TASKRA_WORKER_YIELD_SECONDS"),
        description="The worker inside taskra serve holds back new jobs while requests are "
        "being served, for at most this long at a time (0: never holds back).",
    )

    # --- retention (taskra_core.retention, docs/retention.md) -------------------------------
    retention_messages_days: int = Field(
        365,
        ge=1,
        validation_alias=_env("TASKRA_RETENTION_MESSAGES_DAYS"),
        description="Customer messages and AI replies are deleted this many days after they "
        "were stored (the privacy policy promises 12 months).",
    )
    retention_account_grace_days: int = Field(
        7,
        ge=0,
        le=28,
        validation_alias=_env("TASKRA_RETENTION_ACCOUNT_GRACE_DAYS"),
        description="Days an account waits after its deletion request before the daily sweep "
        "deletes it; at most 28, so deletion always lands within 30 days of the request.",
    )
    retention_billing_years: int = Field(
        7,
        ge=1,
        validation_alias=_env("TASKRA_RETENTION_BILLING_YEARS"),
        description="Billing records and usage totals are kept this many years (UK tax law: 7).",
    )
    retention_jobs_days: int = Field(
        30,
        ge=1,
        validation_alias=_env("TASKRA_RETENTION_JOBS_DAYS"),
        description="Finished (done) jobs are deleted this many days after they finished.",
    )
    retention_dead_jobs_days: int = Field(
        90,
        ge=1,
        validation_alias=_env("TASKRA_RETENTION_DEAD_JOBS_DAYS"),
        description="Dead jobs stay this many days for operators to inspect and retry.",
    )
    retention_webhooks_days: int = Field(
        30,
        ge=3,
        validation_alias=_env("TASKRA_RETENTION_WEBHOOKS_DAYS"),
        description="Webhook receipts are kept this many days to recognise repeated "
        "deliveries (Shopify retries for 48 hours).",
    )
    retention_sessions_days: int = Field(
        7,
        ge=0,
        validation_alias=_env("TASKRA_RETENTION_SESSIONS_DAYS"),
        description="Sessions, sign-in links and failed sign-ins are deleted this many days "
        "after they stopped working (expired, revoked, used, out of the rate-limit window).",
    )
    retention_batch_size: int = Field(
        2000,
        ge=1,
        le=10_000,
        validation_alias=_env("TASKRA_RETENTION_BATCH_SIZE"),
        description="Rows deleted per transaction by the retention sweep.",
    )
    retention_schedule: bool = Field(
        True,
        validation_alias=_env("TASKRA_RETENTION_SCHEDULE"),
        description="Queue the daily retention sweep at start-up (off: run `taskra retention "
        "run` from your own scheduler).",
    )

    # --- providers ----------------------------------------------------------------------------
    shopify_api_key: str | None = Field(
        None, validation_alias=_env("SHOPIFY_API_KEY"), description="Shopify app client id."
    )
    shopify_api_secret: SecretStr | None = Field(
        None,
        validation_alias=_env("SHOPIFY_API_SECRET"),
        description="Shopify app client secret (verifies ID tokens and webhooks).",
    )
    shopify_api_secret_previous: SecretStr | None = Field(
        None,
        validation_alias=_env("SHOPIFY_API_SECRET_PREVIOUS"),
        description="The client secret before a rotation; webhooks signed with it still pass.",
    )
    webhook_max_bytes: int = Field(
        2 * 1024 * 1024,
        ge=1024,
        validation_alias=_env("TASKRA_WEBHOOK_MAX_BYTES"),
        description="Largest webhook body accepted, in bytes; larger ones get 413.",
    )
    shopify_app_url: str | None = Field(
        None,
        validation_alias=_env("SHOPIFY_APP_URL"),
        description="Public https URL of this app, as configured in the Partner dashboard.",
    )
    shopify_api_version: str = Field(
        DEFAULT_SHOPIFY_API_VERSION,
        validation_alias=_env("TASKRA_SHOPIFY_API_VERSION"),
        description="Pinned Shopify Admin API version.",
    )
    shopify_bulk_threshold: int = Field(
        250,
        ge=0,
        validation_alias=_env("TASKRA_SHOPIFY_BULK_THRESHOLD"),
        description="Catalogs with more products than this sync through a bulk operation; "
        "smaller ones page through products(first:).",
    )
    shopify_bulk_poll_seconds: float = Field(
        10.0,
        gt=0,
        validation_alias=_env("TASKRA_SHOPIFY_BULK_POLL_SECONDS"),
        description="How often a running catalog bulk operation is checked on.",
    )
    shopify_throttle_wait_seconds: float = Field(
        30.0,
        ge=0,
        validation_alias=_env("TASKRA_SHOPIFY_THROTTLE_WAIT_SECONDS"),
        description="Longest total wait for Shopify's rate limit inside one sync run; a "
        "longer one makes the job retry later.",
    )
    shopify_policy_refresh_hours: float = Field(
        24.0,
        gt=0,
        validation_alias=_env("TASKRA_SHOPIFY_POLICY_REFRESH_HOURS"),
        description="How often the shop profile and policies are refreshed from Shopify.",
    )
    shopify_origin: str | None = Field(
        None,
        validation_alias=_env("TASKRA_SHOPIFY_ORIGIN"),
        description="Development and tests only: send Shopify Admin/OAuth requests to this "
        "origin (e.g. http://127.0.0.1:8765) instead of https://<shop>.",
    )
    shopify_orders_cache_seconds: float = Field(
        60.0,
        ge=0,
        le=3600,
        validation_alias=_env("TASKRA_SHOPIFY_ORDERS_CACHE_SECONDS"),
        description="How long a customer's orders read from Shopify are reused (0: never).",
    )
    shopify_orders_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=120,
        validation_alias=_env("TASKRA_SHOPIFY_ORDERS_TIMEOUT_SECONDS"),
        description="Longest wait for Shopify's answer to an order look-up.",
    )
    anthropic_api_key: SecretStr | None = Field(
        None,
        validation_alias=_env("ANTHROPIC_API_KEY"),
        description="Claude API key; without it the offline model drafts replies.",
    )
    anthropic_base_url: str | None = Field(
        None,
        validation_alias=_env("ANTHROPIC_BASE_URL"),
        description="Override the Anthropic API address (local fakes, proxies).",
    )
    model: str = Field(
        DEFAULT_MODEL, validation_alias=_env("TASKRA_MODEL"), description="Claude model id."
    )
    reply_model: str | None = Field(
        None,
        validation_alias=_env("TASKRA_REPLY_MODEL"),
        description="Reply model by name (`anthropic`, `offline`, or a plugin's); unset picks "
        "`anthropic` when ANTHROPIC_API_KEY is set, else `offline`.",
    )
    anthropic_timeout_seconds: float = Field(
        60.0,
        gt=0,
        validation_alias=_env("TASKRA_ANTHROPIC_TIMEOUT_SECONDS"),
        description="Timeout of one Claude API request.",
    )
    anthropic_max_retries: int = Field(
        2,
        ge=0,
        le=10,
        validation_alias=_env("TASKRA_ANTHROPIC_MAX_RETRIES"),
        description="Quick retries inside one draft attempt (429, 529, 5xx); the draft job "
        "then retries with backoff.",
    )
    model_prices: dict[str, ModelPrice] = Field(
        default_factory=dict,
        validation_alias=_env("TASKRA_MODEL_PRICES"),
        description="JSON prices in USD per million tokens, added to the built-in table: "
        '`{"model": {"input": 3, "output": 15, "cache_write": 3.75, "cache_read": 0.3}}`.',
    )

    # --- drafting -----------------------------------------------------------------------------
    draft_max_attempts: int = Field(
        5,
        ge=1,
        validation_alias=_env("TASKRA_DRAFT_MAX_ATTEMPTS"),
        description="Draft attempts through AI outages before the draft is shown as failed.",
    )
    draft_max_rounds: int = Field(
        4,
        ge=1,
        le=10,
        validation_alias=_env("TASKRA_DRAFT_MAX_ROUNDS"),
        description="Most model calls for one draft (tool use); the last must submit a reply.",
    )
    draft_max_tokens: int = Field(
        80_000,
        ge=1_000,
        validation_alias=_env("TASKRA_DRAFT_MAX_TOKENS"),
        description="Most tokens (input, cached and output, over all rounds) one draft may use.",
    )
    draft_max_output_tokens: int = Field(
        1_024,
        ge=64,
        validation_alias=_env("TASKRA_DRAFT_MAX_OUTPUT_TOKENS"),
        description="Most output tokens of one model call.",
    )
    ai_budget_usd: float = Field(
        50.0,
        ge=0,
        validation_alias=_env("TASKRA_AI_BUDGET_USD"),
        description="Default monthly AI budget of a store in USD (a hard cap); a store may set "
        "its own.",
    )
    refund_threshold: float = Field(
        300.0,
        ge=0,
        validation_alias=_env("TASKRA_REFUND_THRESHOLD"),
        description="Default refund amount, in the store's currency, above which a human "
        "decides; a store may set its own.",
    )

    stripe_api_key: SecretStr | None = Field(
        None, validation_alias=_env("STRIPE_API_KEY"), description="Stripe secret key."
    )
    stripe_webhook_secret: SecretStr | None = Field(
        None,
        validation_alias=_env("STRIPE_WEBHOOK_SECRET"),
        description="Stripe endpoint secret (whsec_...).",
    )
    stripe_api_url: str = Field(
        DEFAULT_STRIPE_API_URL,
        validation_alias=_env("STRIPE_API_URL"),
        description="Address of the Stripe API (a local fake in tests and development).",
    )
    stripe_meter_event: str = Field(
        "ai_replies",
        min_length=1,
        validation_alias=_env("TASKRA_STRIPE_METER_EVENT"),
        description="Event name of the Stripe billing meter that counts AI replies.",
    )
    billing_plans: dict[str, PlanSettings] = Field(
        default_factory=dict,
        validation_alias=_env("TASKRA_BILLING_PLANS"),
        description="JSON plans added to (or replacing) the built-in ones, by name.",
    )
    billing_provider: Literal["shopify", "stripe"] = Field(
        "shopify",
        validation_alias=_env("TASKRA_BILLING_PROVIDER"),
        description="How stores pay by default: Shopify (App Store installs) or Stripe.",
    )
    shopify_billing_test: bool | None = Field(
        None,
        validation_alias=_env("TASKRA_SHOPIFY_BILLING_TEST"),
        description="Create Shopify charges in test mode; unset: test on development stores.",
    )
    resend_api_key: SecretStr | None = Field(
        None, validation_alias=_env("RESEND_API_KEY"), description="Resend API key."
    )
    resend_api_url: str = Field(
        DEFAULT_RESEND_API_URL,
        validation_alias=_env("RESEND_API_URL"),
        description="Address of the Resend API (a local fake in tests and development).",
    )
    resend_webhook_secret: SecretStr | None = Field(
        None,
        validation_alias=_env("RESEND_WEBHOOK_SECRET"),
        description="Resend (svix) webhook secret (whsec_...).",
    )
    email_from: str | None = Field(
        None,
        validation_alias=_env("TASKRA_EMAIL_FROM"),
        description="Sender address for outbound email, e.g. 'Support <support@example.com>'.",
    )
    email_inbound_domain: str | None = Field(
        None,
        validation_alias=_env("TASKRA_EMAIL_INBOUND_DOMAIN"),
        description="Domain that receives customer mail for stores (Resend receiving or a "
        "forwarder); each store gets <shop-handle>@<domain>. Unset: no inbound addresses.",
    )
    email_inbound_secret: SecretStr | None = Field(
        None,
        validation_alias=_env("TASKRA_EMAIL_INBOUND_SECRET"),
        description="Shared secret that signs raw MIME posted to /channels/email/inbound "
        "(HMAC-SHA256). Unset: that endpoint refuses every request.",
    )
    email_max_bytes: int = Field(
        30 * 1024 * 1024,
        ge=64 * 1024,
        validation_alias=_env("TASKRA_EMAIL_MAX_BYTES"),
        description="Largest inbound email accepted, in bytes of raw MIME; larger gets 413.",
    )

    # --- storefront chat (channels/taskra_chat) ------------------------------------------------
    chat_visitor_messages_per_minute: int = Field(
        8,
        ge=1,
        validation_alias=_env("TASKRA_CHAT_VISITOR_MESSAGES_PER_MINUTE"),
        description="Chat messages one visitor may send per minute; more get 429.",
    )
    chat_client_messages_per_minute: int = Field(
        20,
        ge=1,
        validation_alias=_env("TASKRA_CHAT_CLIENT_MESSAGES_PER_MINUTE"),
        description="Chat messages and new chat sessions one client address may make per "
        "minute in one store (stops a bot that starts a new session per message).",
    )
    chat_store_messages_per_minute: int = Field(
        120,
        ge=1,
        validation_alias=_env("TASKRA_CHAT_STORE_MESSAGES_PER_MINUTE"),
        description="Chat messages one store accepts per minute from all its visitors.",
    )
    chat_max_body_bytes: int = Field(
        16 * 1024,
        ge=1024,
        le=1024 * 1024,
        validation_alias=_env("TASKRA_CHAT_MAX_BODY_BYTES"),
        description="Largest chat request body accepted, in bytes; larger gets 413.",
    )
    chat_max_message_chars: int = Field(
        2000,
        ge=100,
        le=20_000,
        validation_alias=_env("TASKRA_CHAT_MAX_MESSAGE_CHARS"),
        description="Longest chat message a visitor may send, in characters.",
    )
    # Short enough that Shopify's proxy never times a held request out.
    chat_wait_seconds: float = Field(
        8.0,
        ge=0,
        le=60,
        validation_alias=_env("TASKRA_CHAT_WAIT_SECONDS"),
        description="How long the widget's request for new replies is held open when there "
        "are none (long polling); 0 answers at once.",
    )
    chat_poll_seconds: float = Field(
        0.5,
        gt=0,
        le=5,
        validation_alias=_env("TASKRA_CHAT_POLL_SECONDS"),
        description="While a widget's request is held open, how often it looks for new replies.",
    )

    @field_validator("model_prices", "billing_plans", mode="before")
    @classmethod
    def _prices(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as exc:
                raise ValueError(f"not valid JSON ({exc.msg})") from None
        return value

    @field_validator("shopify_origin", mode="after")
    @classmethod
    def _origin(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # Only scheme://host[:port]: a path here would be silently dropped by the rewrite.
        scheme, sep, rest = value.rstrip("/").partition("://")
        if scheme not in ("http", "https") or not sep or not rest or "/" in rest:
            raise ValueError("must be an origin such as http://127.0.0.1:8765 (no path)")
        return f"{scheme}://{rest}"

    @field_validator("email_inbound_domain", mode="after")
    @classmethod
    def _inbound_domain(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        domain = value.strip().lower().rstrip(".")
        labels = domain.split(".")
        if len(labels) < 2 or not all(
            re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", x) for x in labels
        ):
            raise ValueError("must be a domain name such as inbound.example.com")
        return domain

    @field_validator("resend_api_url", "stripe_api_url", mode="after")
    @classmethod
    def _api_url(cls, value: str) -> str:
        # The SDK appends paths such as "/emails": a trailing slash would double it.
        scheme, sep, rest = value.rstrip("/").partition("://")
        if scheme not in ("http", "https") or not sep or not rest:
            raise ValueError("must be an http(s) URL such as https://api.resend.com")
        return f"{scheme}://{rest}"

    @field_validator("disable_plugins", mode="before")
    @classmethod
    def _names(cls, value: object) -> object:
        return _split_names(value)

    @field_validator("previous_secret_keys", mode="before")
    @classmethod
    def _keys(cls, value: object) -> object:
        return _split_names(value)

    @field_validator("secret_key", "previous_secret_keys", mode="after")
    @classmethod
    def _check_keys(cls, value: Any, info: ValidationInfo) -> Any:
        name = env_var_names()[str(info.field_name)]
        for key in value if isinstance(value, tuple) else [value]:
            if key is not None:
                decode_key(key.get_secret_value(), name)
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        if not cls._reads_environment:
            return (init_settings,)
        # Only the documented variables: hosts set bare names like PORT and DATABASE_URL
        # for their own purposes, and Taskra must not pick those up by accident.
        return (init_settings, _DocumentedEnvSource(settings_cls))

    @field_validator("now", mode="after")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Read the process environment once; keyword overrides win over the environment."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            raise ConfigurationError(_explain(exc)) from None

    @classmethod
    def from_values(cls, **values: Any) -> Settings:
        """Build settings from ``values`` alone, ignoring the environment (embedders, tests)."""
        try:
            return _ExplicitSettings(**values)
        except ValidationError as exc:
            raise ConfigurationError(_explain(exc)) from None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


class _DocumentedEnvSource(PydanticBaseSettingsSource):
    """Reads each setting from its one documented variable, never from its bare field name."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        environ = {key.upper(): value for key, value in os.environ.items()}
        return {name: environ[name] for name in env_var_names().values() if name in environ}


class _ExplicitSettings(Settings):
    _reads_environment: ClassVar[bool] = False


def _explain(exc: ValidationError) -> str:
    """Name the environment variable of each bad setting, never echoing the value (secrets)."""
    names = env_var_names()
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        field = str(error["loc"][0]) if error["loc"] else "?"
        problems.append(f"{names.get(field, field)}: {error['msg']}")
    return "Invalid settings: " + "; ".join(problems)


def env_var_names() -> dict[str, str]:
    """Map each setting's field name to its environment variable."""
    names: dict[str, str] = {}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        assert isinstance(alias, AliasChoices)
        first = alias.choices[0]
        assert isinstance(first, str)
        names[name] = first
    return names


def decode_key(value: str, name: str = "TASKRA_SECRET_KEY") -> bytes:
    """Decode a base64 secret key, insisting on exactly 32 bytes (AES-256)."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except ValueError as exc:
        raise ConfigurationError(
            f"{name} is not valid base64; run `taskra keygen` to make a key."
        ) from exc
    if len(raw) != 32:
        raise ConfigurationError(
            f"{name} must decode to 32 bytes, not {len(raw)}; run `taskra keygen` to make a key."
        )
    return raw
