"""Billing endpoints outside the admin: Stripe's webhook and the one-click unsubscribe.

- ``POST /webhooks/stripe``: the body is read (bounded),
  its ``Stripe-Signature`` checked by the Stripe SDK, and the event stored once with its
  job (:func:`taskra_core.billing.stripe_events.receive`). 200 for a new or a replayed
  event; 400 for a bad signature, with nothing stored.
- ``GET|POST /notifications/unsubscribe?store=&token=``: the link in service-update emails.
  GET shows a button (link scanners follow GETs; they must not unsubscribe anyone); POST
  unsubscribes, which is also what a mail client's one-click button sends (RFC 8058).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from taskra_core.app import Taskra
from taskra_core.billing.stripe_events import receive
from taskra_core.bodies import read_bounded
from taskra_core.errors import InvalidInput, TaskraError, WebhookTooLarge
from taskra_core.notifications import UNSUBSCRIBE_PATH, set_service_updates
from taskra_shopify.http_errors import error_response
from taskra_shopify.pages.render import render

STRIPE_PATH = "/webhooks/stripe"
NO_REFERRER = {"Referrer-Policy": "no-referrer"}


def billing_routes() -> list[BaseRoute]:
    return [
        Route(STRIPE_PATH, stripe_webhook, methods=["POST"]),
        Route(UNSUBSCRIBE_PATH, unsubscribe_page, methods=["GET"]),
        Route(UNSUBSCRIBE_PATH, unsubscribe, methods=["POST"]),
    ]


async def stripe_webhook(request: Request) -> Response:
    """Verify and store one Stripe event; its job applies it."""
    taskra: Taskra = request.app.state.taskra
    try:
        body = await read_bounded(
            request.stream(),
            taskra.settings.webhook_max_bytes,
            WebhookTooLarge,
            request.headers.get("content-length"),
        )
        new = await receive(taskra, body, request.headers.get("stripe-signature"))
    except TaskraError as exc:
        return error_response(exc)
    return JSONResponse({"received": True, "duplicate": not new})


def _link(request: Request) -> tuple[int, str]:
    store, token = request.query_params.get("store", ""), request.query_params.get("token", "")
    if not (store.isascii() and store.isdigit() and len(store) <= 18) or not token:
        raise InvalidInput("This unsubscribe link is incomplete.")
    return int(store), token


async def unsubscribe_page(request: Request) -> Response:
    try:
        _link(request)
    except InvalidInput as exc:
        return _page(request, str(exc), done=False, status_code=400)
    return _page(request, None, done=False)


async def unsubscribe(request: Request) -> Response:
    taskra: Taskra = request.app.state.taskra
    try:
        store_id, token = _link(request)
        await set_service_updates(taskra, store_id, False, token=token)
    except InvalidInput as exc:
        return _page(request, str(exc), done=False, status_code=400)
    return _page(request, None, done=True)


def _page(request: Request, error: str | None, *, done: bool, status_code: int = 200) -> Response:
    return render(
        request,
        "standalone/unsubscribe.html",
        {"error": error, "done": done, "action": str(request.url)},
        status_code=status_code,
        headers=NO_REFERRER,
    )
