"""Privacy pages: the public policy (``/privacy``) and the admin's privacy-request ledger
(``/privacy-requests``) with its overdue alert and export downloads."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from taskra_core.app import Taskra
from taskra_core.errors import NotFound
from taskra_core.privacy.export import EXPORT_TTL
from taskra_core.privacy.policy import sections
from taskra_shopify.http_errors import json_error
from taskra_shopify.pages.render import render, render_page
from taskra_shopify.pages.viewer import viewer_for


async def policy_page(request: Request) -> Response:
    """The privacy policy, to anyone (no sign-in, no cookie, no script)."""
    return render(request, "standalone/privacy.html", {"sections": sections()})


async def requests_page(request: Request) -> Response:
    viewer = await viewer_for(request)
    if isinstance(viewer, Response):
        return viewer
    taskra: Taskra = request.app.state.taskra
    store_id = viewer.principal.store_id
    context = {
        "counts": await taskra.privacy.counts(store_id),
        "requests": await taskra.privacy.requests(store_id),
        "export_days": EXPORT_TTL.days,
    }
    return render_page(request, viewer, "admin/privacy_requests.html", context, page="privacy")


async def export_download(request: Request) -> Response:
    """A kept export as a JSON file, for the signed-in staff of its store only."""
    viewer = await viewer_for(request)
    if isinstance(viewer, Response):
        return viewer
    taskra: Taskra = request.app.state.taskra
    export_id = int(request.path_params["export_id"])
    try:
        data = await taskra.privacy.download(viewer.principal.store_id, export_id)
    except NotFound as exc:
        return json_error(404, "NotFound", str(exc))
    return Response(
        data,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="taskra-export-{export_id}.json"',
            "Cache-Control": "no-store",
        },
    )


def privacy_routes() -> list[BaseRoute]:
    return [
        Route("/privacy", policy_page),
        Route("/privacy-requests", requests_page),
        Route("/privacy-requests/exports/{export_id:int}", export_download),
    ]
