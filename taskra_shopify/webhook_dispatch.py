"""From a stored webhook receipt to the handler of its topic.

- :class:`WebhookTopics` is the registry filled through the ``register_webhook_topics`` hook:
  one handler per topic, a duplicate stops start-up.
- :func:`run_webhook` is the ``shopify.webhook`` job: it loads the receipt (scoped to the
  job's store), builds a :class:`WebhookDelivery`, calls the topic's handler and marks the
  receipt done, all in the job's transaction. A receipt that is no longer ``queued`` was
  handled already, so a job that runs again changes nothing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from sqlalchemy import bindparam, select, update

from taskra_core.errors import StartupError
from taskra_core.models import WebhookReceipt
from taskra_shopify import hookspecs
from taskra_shopify.webhook_types import TopicHandler, WebhookDelivery

if TYPE_CHECKING:
    from taskra_core.app import Taskra
    from taskra_core.jobs import JobContext

log = logging.getLogger(__name__)

WEBHOOK_JOB = "shopify.webhook"
SOURCE = "shopify"
R = WebhookReceipt.__table__  # type: ignore[attr-defined]
# Built once, as each delivery's job runs them: building and keying a statement took
# longer than running it. A receipt of an unknown shop has no store on either side.
_RECEIPT = select(R).where(R.c.source == SOURCE, R.c.delivery_id == bindparam("webhook_id"))
_RECEIPT_OF_STORE = _RECEIPT.where(R.c.store_id == bindparam("store_id"))
_RECEIPT_OF_NO_STORE = _RECEIPT.where(R.c.store_id.is_(None))
_HANDLED = (
    update(R)
    .where(R.c.id == bindparam("receipt_id"))
    .values(status=bindparam("new_status"), processed_at=bindparam("at"), job_id=bindparam("by"))
)


class WebhookTopics:
    """Handlers by Shopify topic, filled through the ``register_webhook_topics`` hook."""

    def __init__(self) -> None:
        self._handlers: dict[str, TopicHandler] = {}

    def register(self, topic: str, handler: TopicHandler) -> None:
        if not isinstance(topic, str) or not topic or len(topic) > 128 or topic != topic.strip():
            raise StartupError(f"A webhook topic must be a non-empty string, got {topic!r}.")
        if topic in self._handlers:
            raise StartupError(
                f"Webhook topic {topic!r} is registered twice; two plugins claim it. "
                "Disable one with TASKRA_DISABLE_PLUGINS."
            )
        if not callable(handler):
            raise StartupError(f"The handler for webhook topic {topic!r} is not callable.")
        self._handlers[topic] = handler

    def get(self, topic: str) -> TopicHandler | None:
        return self._handlers.get(topic)

    def __contains__(self, topic: object) -> bool:
        return topic in self._handlers

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(sorted(self._handlers))


# One registry per Taskra, built once from its plugins. The job handler only receives the
# Taskra, and the core has no slot for shell state, so the registry hangs off it weakly (a
# discarded Taskra takes its registry along), as the token locks in ``tokens`` do.
_registries: WeakKeyDictionary[Taskra, WebhookTopics] = WeakKeyDictionary()


def topics_of(taskra: Taskra) -> WebhookTopics:
    """The webhook topic registry of ``taskra``, collected from its plugins on first use.

    Raises :class:`StartupError` if two plugins register one topic (the shell plugin calls
    this from ``startup``, so that happens at start-up, not at the first delivery).
    """
    registry = _registries.get(taskra)
    if registry is None:
        taskra.hooks.ensure_hookspecs(hookspecs)
        registry = WebhookTopics()
        taskra.hooks.collect_sync("register_webhook_topics", register=registry.register)
        _registries[taskra] = registry
    return registry


async def run_webhook(ctx: JobContext) -> None:
    """``shopify.webhook``: run the handler of one stored delivery (named by its webhook id),
    at most once."""
    store_id = ctx.job.store_id
    webhook_id = str(ctx.job.payload["webhook_id"])
    # Scoped to the job's store.
    params: dict[str, Any] = {"webhook_id": webhook_id}
    if store_id is None:
        query = _RECEIPT_OF_NO_STORE
    else:
        query, params["store_id"] = _RECEIPT_OF_STORE, store_id
    row = (await ctx.session.execute(query, params)).mappings().first()
    if row is None or row["status"] != "queued":
        return  # purged with its store, or handled by an earlier run of this job
    handler = topics_of(ctx.taskra).get(row["topic"])
    status = "done"
    if handler is None:
        # The topic lost its handler since it was acknowledged (a plugin was removed).
        status = "ignored"
    else:
        await handler(ctx, delivery_of(row))
    handled = {"receipt_id": row["id"], "new_status": status, "by": ctx.job.id}
    await ctx.session.execute(_HANDLED, {**handled, "at": ctx.taskra.clock.now()})
    log.info(
        "shopify webhook handled",
        extra={"topic": row["topic"], "receipt_id": row["id"], "status": status},
    )


def delivery_of(row: Any) -> WebhookDelivery:
    """The handler's view of a stored receipt row."""
    return WebhookDelivery(
        receipt_id=row["id"],
        shop=row["shop_domain"],
        store_id=row["store_id"],
        topic=row["topic"],
        webhook_id=row["delivery_id"],
        event_id=row["event_id"],
        triggered_at=row["triggered_at"],
        api_version=row["api_version"],
        payload=dict(row["payload"] or {}),
    )
