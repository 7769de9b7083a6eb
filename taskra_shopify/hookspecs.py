"""Hooks of the web shell. Added to the core's plugin manager by ``taskra_shopify.plugin``.

A plugin that implements these and must also work without the shell installed marks its
implementations ``@hookimpl(optionalhook=True)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from taskra_core.hookspecs import hookspec

if TYPE_CHECKING:
    from taskra_core.app import Taskra
    from taskra_core.models import Store


@hookspec
def register_routes(taskra: Taskra) -> Any:
    """Contribute HTTP routes to the web app.

    Fires once while ``create_app(taskra)`` builds the app (synchronously: return the list,
    not an awaitable). Return a list of Starlette routes (``Route``, ``Mount``); a channel
    mounts its endpoints under ``/channels/<name>/``. Plugin routes are matched before the
    shell's own.
    """


@hookspec
def register_webhook_topics(register: Callable[..., None]) -> Any:
    """Handle Shopify webhook topics.

    Fires during ``taskra.startup()`` (synchronously). Call ``register(topic, handler)``,
    where ``topic`` is Shopify's (``products/update``, ``app/uninstalled``, ...) and
    ``handler`` is ``async def handler(ctx: JobContext, delivery: WebhookDelivery) -> None``
    (:class:`taskra_shopify.webhook_types.WebhookDelivery`). Deliveries are verified,
    de-duplicated and stored before the handler runs, in a durable job: the handler must be
    idempotent, and its writes through ``ctx.session`` commit with the job. A topic has one
    handler; registering it twice is a start-up error.
    """


@hookspec
def settings_sections(taskra: Taskra, store: Store) -> Any:
    """Add sections to the admin settings page.

    Fires each time the page renders. Return a list of ``(template_name, context)`` pairs
    (or an awaitable of one); each template is included below Taskra's own sections with its
    context as ``section``. Ship the template through ``template_dirs``. The email channel
    uses it to show the store's inbound address and forwarding instructions.
    """
