"""Every hook of Taskra's core, documented: when it fires, what it receives, what it returns.

Plugins implement these with ``from taskra_core import hookimpl``. Implementations may take
any subset of a hook's arguments, and may be ``async def`` or return an awaitable: the typed
facade in :mod:`taskra_core.hooks` awaits results. Nothing calls ``pm.hook.*`` but that facade.

Kinds of hook, and when each is used:

- **collect** (the default): every implementation runs, in plugin order. Used for events
  (``startup``) and for registries, which receive a ``register`` callback so the core owns
  validation and refuses duplicates.
- **single owner**: the first implementation that returns something other than ``None``
  decides; built-in behaviour is a default plugin marked ``trylast`` so an installed plugin
  wins. (pluggy's ``firstresult`` cannot see through coroutines, so the facade walks the
  implementations itself; these specs are therefore *not* marked ``firstresult``.)
- **wrappers** (``@hookimpl(wrapper=True)``) for cross-cutting concerns around a sync hook.

Hooks that only make sense with the web shell live in ``taskra_shopify.hookspecs`` and are
added to the same plugin manager through :func:`register_hookspecs`.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from pluggy import HookimplMarker, HookspecMarker

if TYPE_CHECKING:
    import click
    from sqlalchemy.ext.asyncio import AsyncSession

    from taskra_core.app import Taskra
    from taskra_core.drafting.pipeline import CheckContext
    from taskra_core.drafting.types import ModelReply
    from taskra_core.jobs import Job
    from taskra_core.models import Customer, Draft, Message, Store

hookspec = HookspecMarker("taskra")
hookimpl = HookimplMarker("taskra")


# --- plugin manager set-up -------------------------------------------------------------------


@hookspec
def register_hookspecs(register: Callable[[ModuleType], None]) -> None:
    """Add another module of hook specifications to the plugin manager.

    Fires once, while the plugin manager is built, before unknown implementations are
    rejected. Call ``register(module)`` with a module of ``@hookspec`` functions. The web
    shell uses it for its own hooks (``register_routes``).
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add commands to the ``taskra`` command line.

    Fires when the CLI starts, before arguments are parsed. Add commands with
    ``@cli.command()`` or ``cli.add_command(...)``; a command receives the CLI context, whose
    ``obj`` holds the :class:`~taskra_core.settings.Settings`. Returns nothing.
    """


# --- lifecycle -------------------------------------------------------------------------------


@hookspec
def startup(taskra: Taskra) -> Any:
    """Called at the end of ``await taskra.startup()``, once registries are built.

    The database is reachable and migrated (when auto-migrate is on). Open clients or warm
    caches here. May return an awaitable. Return value ignored.
    """


@hookspec
def shutdown(taskra: Taskra) -> Any:
    """Called at the start of ``await taskra.shutdown()``, before the database is closed.

    Close what ``startup`` opened. May return an awaitable. Return value ignored.
    """


# --- inbox and store data -------------------------------------------------------------------


@hookspec
def message_received(taskra: Taskra, message: Message) -> Any:
    """Called after an inbound customer message is stored and committed.

    Fires once per message, never for a repeated delivery of the same message. ``message``
    is the stored :class:`~taskra_core.models.Message` (``store_id``, ``conversation_id``,
    ``channel``, ``text``). Do slow work in a job. May return an awaitable; return ignored.
    """


@hookspec
def find_orders(taskra: Taskra, store: Store, email: str | None, name: str | None) -> Any:
    """Look up a store's orders by the customer's email and/or an order name (``#1001``).

    Fires when drafting needs order context. Return a list of order dicts in the Shopify
    Admin GraphQL shape (``name``, ``email``, ``displayFulfillmentStatus``, ...), or ``None``
    if this plugin has no orders for the store. Results from all plugins are merged by order
    name, earlier plugins winning, so a live source (Shopify) overrides stored orders.
    Return what matches the email or the name; the caller keeps only the orders the sender
    owns. Raise :class:`~taskra_core.errors.OrdersUnavailable` when the source exists but
    cannot answer now: the draft then says order data is unavailable instead of guessing.
    """


# --- privacy ---------------------------------------------------------------------------------


@hookspec
def export_subject_data(
    taskra: Taskra, session: AsyncSession, store: Store, customer: Customer
) -> Any:
    """Add what this plugin holds on ``customer`` to their data export (access/portability).

    Fires while Taskra compiles a customer's export (``taskra privacy export``, the API, the
    ``customers/data_request`` webhook), inside ``session``'s transaction; read through it.
    Return a dict of sections, ``{"chat_sessions": [...]}``, each JSON-serialisable, or
    ``None``. Every implementation runs; sections land under ``plugins`` in the export
    (the first plugin to use a section name keeps it).
    """


@hookspec
def erase_subject_data(
    taskra: Taskra, session: AsyncSession, store: Store, customer: Customer | None
) -> Any:
    """Erase what this plugin holds on ``customer`` of ``store``; ``None`` means the whole
    store is being erased (``shop/redact``).

    Fires inside the erasure's transaction, before Taskra deletes its own rows (the
    customer's conversations still exist, so a plugin can find its rows through them).
    Write through ``session``: the erasure commits or rolls back as a whole, and may run
    again after a crash, so be idempotent. Rows with a cascading foreign key to the
    customer or the store go by themselves; erase what they do not cover (search entries,
    files, remote copies). Return a short label of what was erased (for the ledger's
    report, no personal data) or ``None``. Every implementation runs.
    """


# --- drafting and replies -------------------------------------------------------------------


@hookspec
def register_reply_models(register: Callable[..., None]) -> Any:
    """Register reply models (see :mod:`taskra_core.drafting.reply_models`).

    Fires during ``taskra.startup()``. Call ``register(name, factory)`` where ``factory``
    takes the :class:`~taskra_core.settings.Settings` and returns a ``ReplyModel``; it is
    called the first time the model drafts. ``TASKRA_REPLY_MODEL`` picks a model by name.
    Built in: ``anthropic`` and ``offline``. Registering a name twice is a start-up error.
    """


@hookspec
def register_channels(register: Callable[..., None]) -> Any:
    """Register channels that deliver replies (see :mod:`taskra_core.channels`).

    Fires during ``taskra.startup()``. Call ``register(name, factory)``; ``name`` is the
    ``channel`` of the messages the channel answers (``email``, ``chat``) and ``factory``
    takes the settings and returns a ``Channel``. Registering a name twice is a start-up
    error.
    """


@hookspec
def check_draft(taskra: Taskra, draft: ModelReply, context: CheckContext) -> Any:
    """Decide whether a drafted reply needs a person before it may be sent.

    Fires for every draft, after the model answered and before the draft is stored.
    ``draft`` is the model's :class:`~taskra_core.drafting.types.ModelReply`; ``context``
    (:class:`~taskra_core.drafting.pipeline.CheckContext`) holds the customer's message,
    the store, the reasons the message checks already found and whether the sender's
    identity needs verifying. Return a list of reasons (``EscalationReason`` or plain
    strings), or ``None``/``[]`` for none. Every implementation runs; the reasons are
    combined. Taskra's own rules are the built-in implementation.
    """


@hookspec
def draft_created(taskra: Taskra, draft: Draft) -> Any:
    """Called after a draft is stored (committed), once per draft.

    ``draft`` is the stored :class:`~taskra_core.models.Draft` (``state`` is ``drafted``,
    ``escalated``, ``auto_send`` or ``failed``). Delivered by a durable job, so it is not lost
    if the process stops, and may in rare cases (a crash mid-call) repeat: be idempotent.
    """


@hookspec
def reply_sent(taskra: Taskra, message: Message) -> Any:
    """Called after a reply was delivered to the customer and stored.

    ``message`` is the stored outbound :class:`~taskra_core.models.Message`. Delivered by a
    durable job like ``draft_created``.
    """


# --- billing ---------------------------------------------------------------------------------


@hookspec
def register_billing_providers(register: Callable[..., None]) -> Any:
    """Register billing providers (see :mod:`taskra_core.billing.providers`).

    Fires during ``taskra.startup()``. Call ``register(name, factory)`` where ``factory``
    takes the :class:`~taskra_core.settings.Settings` and returns a ``BillingProvider``;
    it is called the first time the provider is used. Built in: ``stripe``, and ``shopify``
    with the web shell. Registering a name twice is a start-up error.
    """


# --- retention -------------------------------------------------------------------------------


@hookspec
def register_retention_policies(register: Callable[..., None]) -> Any:
    """Register retention policies, so a plugin's own data is deleted when it is due.

    Fires during ``taskra.startup()``. Call
    ``register(name, sweep, *, period, description="")``: ``period`` is a ``timedelta`` or a
    function of the :class:`~taskra_core.settings.Settings` returning one, and ``sweep`` is
    ``async def sweep(ctx: SweepContext) -> dict[str, int]`` that deletes what is older than
    ``ctx.cutoff`` (``now - period``), best through ``ctx.delete(table, where)``, which deletes
    in short batches and only counts in a dry run. Return rows per table. Policies run in
    registration order, a plugin's before Taskra's built-in ones. Registering a name twice is
    a start-up error.
    """


# --- templates -------------------------------------------------------------------------------


@hookspec
def template_dirs() -> Any:
    """Return a list of directories (``pathlib.Path``) of Jinja2 templates.

    Must answer synchronously. Taskra looks in these before its own ``templates/``, so a
    plugin can add pages and emails or replace one of Taskra's by giving it the same name
    (for example ``email/invitation.txt``). Templates are autoescaped when they end in
    ``.html``.
    """


# --- durable jobs ----------------------------------------------------------------------------


@hookspec
def register_jobs(register: Callable[..., None]) -> Any:
    """Register handlers for durable job kinds.

    Fires during ``taskra.startup()``. Call
    ``register(kind, handler, *, max_attempts=None, lease_seconds=None)`` where ``handler`` is
    ``async def handler(ctx: JobContext) -> None``. A handler must be idempotent: it can run
    again after a crash. Its database writes through ``ctx.session`` commit in the same
    transaction that marks the job done. Registering a kind twice is a start-up error.
    """


@hookspec
def job_retry_delay(taskra: Taskra, job: Job, error: BaseException) -> float | None:
    """Decide how many seconds to wait before retrying a job that raised ``error``.

    Fires after a failed attempt that has attempts left. Single owner: the first
    implementation returning a number decides; return ``None`` to leave the decision to
    others. The built-in default is exponential backoff with jitter.
    """
