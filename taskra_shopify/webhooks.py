"""``POST /webhooks/shopify``: every Shopify topic, compliance topics included.

In order: required headers present (else 400), body within ``TASKRA_WEBHOOK_MAX_BYTES``
(else 413), HMAC valid (else 401), then the delivery is stored with its job through the
group-commit batcher and answered 200 once that commit is done. Other methods get 405.

The HMAC is base64(HMAC-SHA256(client secret, raw body)), compared in constant time, with
``SHOPIFY_API_SECRET`` and, during a rotation, ``SHOPIFY_API_SECRET_PREVIOUS``. It is
computed here rather than by ``shopify_app``'s ``verify_webhook_req``, which does accept an
old secret but takes the body as ``str`` and hashes it re-encoded as UTF-8: a signed body
that is not UTF-8 could not be verified (and so not be recorded as failed), it needs the
client id as well as the secret, and it copies the request for its log on every call, on
the path with the tightest budget.

A body that is signed correctly but is not a JSON object is stored as ``failed`` and
answered 200, so Shopify stops retrying something that can never succeed. A topic without
a handler is stored as ``ignored`` and answered 200; nothing runs for it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from taskra_core.bodies import read_bounded
from taskra_core.errors import (
    ConfigurationError,
    InvalidInput,
    TaskraError,
    WebhookMalformed,
    WebhookSignatureInvalid,
    WebhookTooLarge,
)
from taskra_core.settings import Settings
from taskra_core.stores import normalize_domain
from taskra_shopify.http_errors import error_response
from taskra_shopify.webhook_batch import Incoming, ReceiptBatcher

PATH = "/webhooks/shopify"
HMAC_HEADER = "x-shopify-hmac-sha256"
# Required headers and the longest value each column takes.
REQUIRED = {
    HMAC_HEADER: 256,
    "x-shopify-topic": 128,
    "x-shopify-shop-domain": 255,
    "x-shopify-webhook-id": 255,
}
OPTIONAL = {
    "x-shopify-event-id": 255,
    "x-shopify-api-version": 32,
    "x-shopify-triggered-at": 64,
    "content-length": 20,
}
MAX_ERROR_CHARS = 500


def webhook_routes() -> list[Route]:
    return [Route(PATH, shopify_webhook, methods=["POST"])]


async def shopify_webhook(request: Request) -> Response:
    """Verify, store (with its job, in a group commit) and acknowledge one delivery."""
    try:
        item = await verified_delivery(request)
        batcher: ReceiptBatcher = request.app.state.webhook_batcher
        await batcher.submit(item)
    except TaskraError as exc:
        return error_response(exc)
    return Response(status_code=200)


async def verified_delivery(request: Request) -> Incoming:
    """The delivery in ``request``, verified; raises a ``WebhookRejected`` error if not."""
    taskra = request.app.state.taskra
    settings: Settings = taskra.settings
    headers = _headers(request)
    body = await read_bounded(
        request.stream(), settings.webhook_max_bytes, WebhookTooLarge, headers.get("content-length")
    )
    if not signature_valid(body, headers[HMAC_HEADER], webhook_secrets(settings)):
        raise WebhookSignatureInvalid(
            "The X-Shopify-Hmac-Sha256 header does not match the body under the app's client "
            "secret (SHOPIFY_API_SECRET, or SHOPIFY_API_SECRET_PREVIOUS during a rotation)."
        )
    try:
        shop = normalize_domain(headers["x-shopify-shop-domain"])
    except InvalidInput as exc:
        raise WebhookMalformed(f"X-Shopify-Shop-Domain: {exc}") from exc
    payload, error = _parse(body)
    return Incoming(
        shop=shop,
        topic=headers["x-shopify-topic"],
        webhook_id=headers["x-shopify-webhook-id"],
        event_id=headers.get("x-shopify-event-id") or None,
        triggered_at=_timestamp(headers.get("x-shopify-triggered-at")),
        api_version=headers.get("x-shopify-api-version") or None,
        received_at=taskra.clock.now(),
        payload=payload,
        error=error,
    )


def webhook_secrets(settings: Settings) -> list[bytes]:
    """The secrets a delivery may be signed with: the current one, then the previous one."""
    if settings.shopify_api_secret is None:
        raise ConfigurationError(
            "SHOPIFY_API_SECRET is not set, so webhook signatures cannot be checked; copy it "
            "from the app's page in the Shopify Partner dashboard."
        )
    secrets = [settings.shopify_api_secret.get_secret_value().encode()]
    if settings.shopify_api_secret_previous is not None:
        secrets.append(settings.shopify_api_secret_previous.get_secret_value().encode())
    return secrets


def signature_valid(body: bytes, received: str, secrets: list[bytes]) -> bool:
    """Whether ``received`` is base64(HMAC-SHA256(secret, body)) for one of ``secrets``."""
    # Headers arrive as latin-1 text; comparing bytes keeps compare_digest constant-time
    # (and free of TypeError) for any header value.
    given = received.strip().encode("latin-1", errors="replace")
    valid = False
    for secret in secrets:
        expected = base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest())
        # Every secret is tried, so timing does not tell which one matched.
        valid |= hmac.compare_digest(expected, given)
    return valid


def _headers(request: Request) -> dict[str, str]:
    found: dict[str, str] = {}
    missing = []
    given = request.headers  # Starlette builds a new Headers object on every access
    for name, longest in (REQUIRED | OPTIONAL).items():
        value = given.get(name, "").strip()
        if not value:
            if name in REQUIRED:
                missing.append(name)
            continue
        if len(value) > longest:
            raise WebhookMalformed(f"The {_title(name)} header is longer than {longest} chars.")
        found[name] = value
    if missing:
        names = ", ".join(_title(name) for name in missing)
        raise WebhookMalformed(f"Missing required Shopify webhook header(s): {names}.")
    return found


def _title(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-")).replace("Api", "API")


def _parse(body: bytes) -> tuple[dict[str, Any], str | None]:
    """The JSON object in ``body``, or ``({}, why not)``."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        return {}, f"The body is not valid JSON: {exc}"[:MAX_ERROR_CHARS]
    if not isinstance(payload, dict):
        return {}, f"The body is JSON but not an object (a {type(payload).__name__})."
    return payload, None


def _timestamp(value: str | None) -> datetime | None:
    """X-Shopify-Triggered-At as an aware time; None if absent or unreadable (then the
    delivery counts as current, since staleness cannot be judged)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
