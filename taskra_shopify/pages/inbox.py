"""The inbox page (``/``): conversations with filters, search, unread and escalated markers."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from taskra_core.app import Taskra
from taskra_core.errors import InvalidInput
from taskra_core.inbox.listing import ConversationFilter
from taskra_shopify.pages.render import render_page
from taskra_shopify.pages.viewer import Viewer, viewer_for

STATUSES = ("open", "pending", "snoozed", "closed")
PAGE_SIZE = 50


def _filters(request: Request, viewer: Viewer) -> tuple[ConversationFilter, dict[str, str]]:
    """The list's filters from the query string, and the same values for the form."""
    query = request.query_params
    status = query.get("status", "open")
    if status not in (*STATUSES, "all"):
        raise InvalidInput(f"Status {status!r} is unknown; use one of {', '.join(STATUSES)}.")
    show = query.get("show", "")
    if show not in ("", "escalated", "mine", "unassigned"):
        raise InvalidInput(f"Show {show!r} is unknown.")
    if show == "mine" and viewer.principal.account_id is None:
        raise InvalidInput("Only a signed-in account has conversations of its own.")
    filters = ConversationFilter(
        status=None if status == "all" else status,
        escalated=True if show == "escalated" else None,
        assignee_id=(
            viewer.principal.account_id if show == "mine" else 0 if show == "unassigned" else None
        ),
        channel=query.get("channel") or None,
    )
    return filters, {"status": status, "show": show, "channel": query.get("channel", "")}


async def inbox_page(request: Request) -> Response:
    viewer = await viewer_for(request)
    if isinstance(viewer, Response):
        return viewer
    taskra: Taskra = request.app.state.taskra
    store_id = viewer.principal.store_id
    q = (request.query_params.get("q") or "").strip()
    context: dict[str, Any] = {"q": q, "statuses": STATUSES, "error": None}
    try:
        filters, form = _filters(request, viewer)
        context["form"] = form
        if q:
            found = await taskra.inbox.search(store_id, q, limit=50)
            context["results"] = found
        else:
            listing = await taskra.inbox.list_conversations(
                store_id, filters, limit=PAGE_SIZE, cursor=request.query_params.get("cursor")
            )
            context["rows"] = await taskra.inbox.rows(
                store_id, listing.items, viewer.principal.account_id
            )
            context["next_cursor"] = listing.next_cursor
    except InvalidInput as exc:
        context.setdefault("form", {"status": "open", "show": "", "channel": ""})
        context["error"] = str(exc)
    return render_page(
        request,
        viewer,
        "admin/inbox.html",
        context,
        page="inbox",
        status_code=422 if context["error"] else 200,
    )
