"""Knowledge and settings (``/knowledge``): brand voice, FAQs, policies, conflicts, autonomy
per intent with measured acceptance, the monthly AI budget, and the team; and the usage page
(``/usage``)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from taskra_core.app import Taskra
from taskra_core.drafting.policy import AUTONOMY_MODES
from taskra_core.drafting.types import INTENTS
from taskra_core.errors import InvalidInput
from taskra_core.models import Store
from taskra_shopify.pages.billing import billing_context
from taskra_shopify.pages.render import render_page
from taskra_shopify.pages.viewer import viewer_for


async def settings_page(request: Request) -> Response:
    viewer = await viewer_for(request)
    if isinstance(viewer, Response):
        return viewer
    taskra: Taskra = request.app.state.taskra
    store_id = viewer.principal.store_id
    context = {
        "brand_voice": await taskra.knowledge.brand_voice(store_id),
        "faqs": await taskra.knowledge.list_faqs(store_id),
        "policies": await taskra.knowledge.policies(store_id),
        "conflicts": await taskra.knowledge.conflicts(store_id),
        "ai": await taskra.drafting.ai_state(store_id),
        "intents": INTENTS,
        "modes": AUTONOMY_MODES,
        "accounts": await taskra.team.members(store_id),
        "plugin_sections": await plugin_sections(taskra, store_id),
    }
    return render_page(request, viewer, "admin/settings.html", context, page="settings")


async def plugin_sections(taskra: Taskra, store_id: int) -> list[tuple[str, Any]]:
    """``(template, context)`` pairs that plugins add through ``settings_sections``."""
    async with taskra.db.session() as session:
        store = await session.get(Store, store_id)
    if store is None:
        return []
    sections: list[tuple[str, Any]] = []
    for contributed in await taskra.hooks.collect("settings_sections", taskra=taskra, store=store):
        sections.extend((str(name), context) for name, context in contributed or [])
    return sections


async def usage_page(request: Request) -> Response:
    viewer = await viewer_for(request)
    if isinstance(viewer, Response):
        return viewer
    taskra: Taskra = request.app.state.taskra
    error = None
    try:
        # The core checks the period; a bad one shows this month with the reason.
        usage = await taskra.drafting.usage(
            viewer.principal.store_id, request.query_params.get("period") or None
        )
    except InvalidInput as exc:
        error, usage = str(exc), await taskra.drafting.usage(viewer.principal.store_id)
    budget = await taskra.drafting.budget(viewer.principal.store_id)
    billing = await billing_context(request, taskra, viewer.principal.store_id)
    return render_page(
        request,
        viewer,
        "admin/usage.html",
        {"usage": usage, "budget": budget, "error": error, **billing},
        page="usage",
        status_code=422 if error else 200,
    )
