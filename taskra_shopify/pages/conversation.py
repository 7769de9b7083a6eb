"""The conversation page: the thread, the customer and their orders, the AI draft with its
sources, reasons, proposed actions and cost, and every action on them."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from taskra_core.app import Taskra
from taskra_core.drafting.service import OPEN_STATES
from taskra_core.errors import NotFound, TaskraError
from taskra_core.models import Draft
from taskra_shopify.pages.inbox import STATUSES
from taskra_shopify.pages.render import render_page
from taskra_shopify.pages.viewer import viewer_for


def current_draft(drafts: list[Draft]) -> Draft | None:
    """The draft waiting for a decision (the newest), else the newest of any state."""
    waiting = [d for d in drafts if d.state in OPEN_STATES]
    if waiting:
        return waiting[-1]
    return drafts[-1] if drafts else None


async def conversation_page(request: Request) -> Response:
    viewer = await viewer_for(request)
    if isinstance(viewer, Response):
        return viewer
    taskra: Taskra = request.app.state.taskra
    store_id = viewer.principal.store_id
    conversation_id = int(request.path_params["conversation_id"])
    try:
        thread = await taskra.inbox.open_conversation(store_id, conversation_id, limit=200)
    except NotFound as exc:
        return render_page(
            request,
            viewer,
            "admin/not_found.html",
            {"message": str(exc)},
            page="conversation",
            status_code=404,
        )
    drafts = await taskra.drafting.for_conversation(store_id, conversation_id)
    draft = current_draft(drafts)
    context: dict[str, Any] = {
        "thread": thread,
        "draft": draft,
        "statuses": STATUSES,
        "accounts": await taskra.team.members(store_id),
        "source_titles": await taskra.knowledge.titles(store_id, list(draft.sources or []))
        if draft
        else {},
        "orders": [],
        "orders_error": None,
    }
    assert thread.customer.id is not None
    try:
        context["orders"] = await taskra.inbox.customer_orders(store_id, thread.customer.id)
    except TaskraError as exc:
        # The thread is still worth showing when the order lookup is down.
        context["orders_error"] = f"Orders could not be loaded: {exc}"
    if viewer.principal.account_id is not None:
        await taskra.inbox.mark_read(store_id, conversation_id, viewer.principal.account_id)
    return render_page(
        request,
        viewer,
        "admin/conversation.html",
        context,
        page="conversation",
    )
