"""A fake Stripe: a real HTTP server on 127.0.0.1 for the real ``stripe`` SDK.

Point a ``StripeClient`` at it with ``base_addresses={"api": fake.url}`` (Taskra:
``STRIPE_API_URL``). It speaks the form-encoded v1 API as far as Taskra uses it:

- ``POST /v1/customers``; ``POST /v1/checkout/sessions`` (subscription mode; the session's
  ``url`` is a page of this fake); ``POST /v1/billing_portal/sessions``;
  ``POST /v1/billing/meter_events`` (one event per ``identifier``: a repeat is refused
  with 400 ``resource_already_exists``, as Stripe does);
  ``GET|POST|DELETE /v1/subscriptions/<id>`` (read, change prices, cancel).
- ``Idempotency-Key``: a repeated key replays the first answer, as Stripe does.
- ``Authorization: Bearer sk_test_...`` is required (else 401).
- Failures: :attr:`FakeStripe.fail_next` queues errors answered (through the idempotency
  layer, as Stripe does) to the next requests. :attr:`FakeStripe.outage` (a
  :class:`~tests.fakes.server.Outage`) is Stripe being down for a while: while in force,
  every request gets the next of its :class:`Failure` answers in front of the API (an
  error with no idempotency record, a delay, a dropped connection, or a request carried out
  whose answer is lost): ``fake.outage.begin(api_error(503), rate_limited())``, then
  ``fake.outage.begin(timed_out(1.0), slow(0.5))``, then ``fake.outage.end()``.
  :attr:`FakeStripe.lost` lists the requests carried out whose answers were lost (each is
  also in :attr:`FakeStripe.requests`, with the same ``form`` object).

What a merchant does on Stripe's own pages is a method here, returning the events Stripe
would send (full ``Event`` objects; deliver them with :func:`signed`, which uses the SDK's
own signing helper): :meth:`complete_checkout`, :meth:`fail_payment`, and the events that
:meth:`events_since` collects for API-made changes (plan change, cancel).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl

import stripe

from tests.fakes.server import LocalServer, Outage

API_KEY = "sk_test_taskra_fake"
WEBHOOK_SECRET = "whsec_taskra_fake_secret"
# Prices of the plans tests configure (TEST_PLANS): a monthly fee and a metered price each.
PRICES: dict[str, dict[str, Any]] = {
    "price_starter": {"unit_amount": 1900, "usage_type": "licensed"},
    "price_starter_replies": {"unit_amount": 4, "usage_type": "metered"},
    "price_pro": {"unit_amount": 7900, "usage_type": "licensed"},
    "price_pro_replies": {"unit_amount": 3, "usage_type": "metered"},
}
TEST_PLANS = {
    "starter": {
        "title": "Starter",
        "price_cents": 1900,
        "included_replies": 5,
        "overage_cents": 4,
        "overage_cap_cents": 8,
        "stripe_price": "price_starter",
        "stripe_metered_price": "price_starter_replies",
    },
    "pro": {
        "title": "Pro",
        "price_cents": 7900,
        "included_replies": 50,
        "overage_cents": 3,
        "overage_cap_cents": 300,
        "stripe_price": "price_pro",
        "stripe_metered_price": "price_pro_replies",
    },
}


def signed(event: dict[str, Any], secret: str = WEBHOOK_SECRET) -> tuple[bytes, dict[str, str]]:
    """``event`` as Stripe delivers it: the JSON body and its ``Stripe-Signature`` header,
    made by the SDK's own ``WebhookSignature.generate_signature_header``."""
    payload = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(payload, secret)
    return payload.encode(), {"Stripe-Signature": header, "Content-Type": "application/json"}


def parse_form(body: str) -> dict[str, Any]:
    """Stripe's bracketed form encoding (``a[0][b]=1``) as nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v) for k, v in node.items()}
    if items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


class StripeError(Exception):
    def __init__(self, status: int, message: str, code: str = "", kind: str = "") -> None:
        super().__init__(message)
        self.status, self.code = status, code
        self.kind = kind or "invalid_request_error"


@dataclasses.dataclass(frozen=True)
class Failure:
    """One answer of an outage (:attr:`FakeStripe.outage`), given before the API sees the
    request. After ``delay`` seconds: ``error`` is answered as Stripe words it; or, with no
    error, ``drop`` closes the connection without an answer (a timeout or reset as the client
    sees it), ``lost`` carries the request out and then closes the connection instead of
    answering, and with neither the request is served normally (a slow answer)."""

    error: StripeError | None = None
    delay: float = 0.0
    drop: bool = False
    lost: bool = False


def api_error(status: int = 500) -> Failure:
    return Failure(StripeError(status, "An error occurred with our API.", kind="api_error"))


def rate_limited() -> Failure:
    return Failure(StripeError(429, "Too many requests hit the API too quickly.", "rate_limit", ""))


def slow(seconds: float) -> Failure:
    """A slow Stripe: the request is served normally, ``seconds`` late."""
    return Failure(delay=seconds)


def timed_out(seconds: float, *, done: bool = False) -> Failure:
    """A hung request: nothing for ``seconds``, then the connection is closed with no answer.
    ``done``: Stripe carried the request out all the same (a meter event IS recorded)."""
    return Failure(delay=seconds, drop=not done, lost=done)


class FakeStripe:
    """A threaded HTTP server speaking the parts of Stripe's API Taskra uses. Use as ``with``."""

    def __init__(self) -> None:
        self._http = LocalServer("FakeStripe")
        self._lock = threading.Lock()
        self._ids: dict[str, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
        self._clock = int(time.time())
        self.customers: dict[str, dict[str, Any]] = {}
        self.checkout_sessions: dict[str, dict[str, Any]] = {}
        self.portal_sessions: list[dict[str, Any]] = []
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.meter_events: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self._idempotent: dict[str, tuple[int, Any]] = {}
        self.fail_next: list[StripeError] = []
        self.outage: Outage[Failure] = Outage()
        self.lost: list[tuple[str, str, dict[str, Any]]] = []
        self._stopping = threading.Event()

    # --- server ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self._http.url

    def __enter__(self) -> FakeStripe:
        self._stopping.clear()
        self._http.start(_make_handler(self))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()  # wakes handlers waiting out a failure's delay
        self._http.stop()

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids[prefix]):06d}"

    def _now(self) -> int:
        # Strictly increasing, so the events of a test have a definite order.
        self._clock += 1
        return self._clock

    # --- what Stripe does when the merchant acts ------------------------------------------

    def event(self, kind: str, obj: dict[str, Any], previous: dict[str, Any] | None = None) -> Any:
        """A full Event object of type ``kind`` about a copy of ``obj`` (also kept in
        :attr:`events`)."""
        data: dict[str, Any] = {"object": json.loads(json.dumps(obj))}
        if previous is not None:
            data["previous_attributes"] = previous
        event = {
            "id": self._id("evt"),
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": self._now(),
            "type": kind,
            "livemode": False,
            "pending_webhooks": 1,
            "data": data,
        }
        self.events.append(event)
        return event

    def events_since(self, count: int) -> list[dict[str, Any]]:
        """Events made after the first ``count`` (what API calls since then caused)."""
        with self._lock:
            return list(self.events[count:])

    def complete_checkout(self, session_id: str) -> list[dict[str, Any]]:
        """The merchant pays on the Checkout page: the subscription starts. Returns the
        events Stripe sends: session completed, subscription created, first invoice paid."""
        with self._lock:
            cs = self.checkout_sessions[session_id]
            data = cs.get("subscription_data") or {}
            trial = int(data.get("trial_period_days") or 0)
            sub = self._new_subscription(
                cs["customer"], cs["line_items"], data.get("metadata") or {}, trial
            )
            cs.update(status="complete", subscription=sub["id"], payment_status="paid")
            invoice = self._invoice(sub, paid=True)
            return [
                self.event("checkout.session.completed", cs),
                self.event("customer.subscription.created", sub),
                self.event("invoice.paid", invoice),
            ]

    def fail_payment(self, subscription_id: str) -> list[dict[str, Any]]:
        """A renewal payment fails: the subscription is past due, the invoice unpaid."""
        with self._lock:
            sub = self.subscriptions[subscription_id]
            sub["status"] = "past_due"
            invoice = self._invoice(sub, paid=False)
            return [
                self.event("invoice.payment_failed", invoice),
                self.event("customer.subscription.updated", sub, {"status": "active"}),
            ]

    def _new_subscription(
        self, customer: str, line_items: list[dict[str, Any]], metadata: dict[str, Any], trial: int
    ) -> dict[str, Any]:
        now = self._now()
        sub_id = self._id("sub")
        sub = {
            "id": sub_id,
            "object": "subscription",
            "customer": customer,
            "status": "trialing" if trial else "active",
            "metadata": dict(metadata),
            "trial_end": now + trial * 86400 if trial else None,
            "created": now,
            "items": {"object": "list", "data": []},
        }
        for line in line_items:
            sub["items"]["data"].append(self._item(sub_id, line["price"], now))
        self.subscriptions[sub_id] = sub
        return sub

    def _item(self, sub_id: str, price_id: str, now: int) -> dict[str, Any]:
        price = PRICES[price_id]
        return {
            "id": self._id("si"),
            "object": "subscription_item",
            "subscription": sub_id,
            "current_period_start": now,
            "current_period_end": now + 30 * 86400,
            "price": {
                "id": price_id,
                "object": "price",
                "unit_amount": price["unit_amount"],
                "currency": "usd",
                "recurring": {"interval": "month", "usage_type": price["usage_type"]},
            },
        }

    def _invoice(self, sub: dict[str, Any], *, paid: bool) -> dict[str, Any]:
        amount = (
            0
            if sub["status"] == "trialing"
            else sum(
                i["price"]["unit_amount"]
                for i in sub["items"]["data"]
                if i["price"]["recurring"]["usage_type"] == "licensed"
            )
        )
        number = next(self._ids["invoice_number"])
        return {
            "id": self._id("in"),
            "object": "invoice",
            "number": f"TASKRA-{number:04d}",
            "customer": sub["customer"],
            "currency": "usd",
            "amount_due": amount,
            "amount_paid": amount if paid else 0,
            "attempt_count": 1,
            "status": "paid" if paid else "open",
            "period_start": sub["created"],
            "period_end": sub["created"] + 30 * 86400,
            "parent": {
                "type": "subscription_details",
                "subscription_details": {
                    "subscription": sub["id"],
                    "metadata": dict(sub["metadata"]),
                },
            },
        }

    # --- the API --------------------------------------------------------------------------

    def handle(self, method: str, path: str, form: dict[str, Any]) -> tuple[int, Any]:
        with self._lock:
            self.requests.append((method, path, form))
            if self.fail_next:
                raise self.fail_next.pop(0)
        if method == "POST" and path == "/v1/customers":
            return self._create_customer(form)
        if method == "POST" and path == "/v1/checkout/sessions":
            return self._create_checkout(form)
        if method == "POST" and path == "/v1/billing_portal/sessions":
            return self._create_portal(form)
        if method == "POST" and path == "/v1/billing/meter_events":
            return self._meter_event(form)
        match = re.fullmatch(r"/v1/subscriptions/(sub_\w+)", path)
        if match:
            return self._subscription(method, match.group(1), form)
        raise StripeError(404, f"Unrecognized request URL ({method}: {path}).")

    def _create_customer(self, form: dict[str, Any]) -> tuple[int, Any]:
        with self._lock:
            customer = {
                "id": self._id("cus"),
                "object": "customer",
                "email": form.get("email"),
                "name": form.get("name"),
                "metadata": form.get("metadata") or {},
            }
            self.customers[customer["id"]] = customer
        return 200, customer

    def _create_checkout(self, form: dict[str, Any]) -> tuple[int, Any]:
        if form.get("mode") != "subscription":
            raise StripeError(400, "Only subscription mode is faked.", "parameter_invalid")
        if form.get("customer") not in self.customers:
            raise StripeError(
                400, f"No such customer: '{form.get('customer')}'", "resource_missing"
            )
        for line in form.get("line_items") or []:
            if line.get("price") not in PRICES:
                raise StripeError(400, f"No such price: '{line.get('price')}'", "resource_missing")
            metered = PRICES[line["price"]]["usage_type"] == "metered"
            if metered and "quantity" in line:
                raise StripeError(400, "Quantity is not allowed for metered prices.")
        with self._lock:
            cs_id = self._id("cs_test")
            session = {
                "id": cs_id,
                "object": "checkout.session",
                "mode": "subscription",
                "status": "open",
                "url": f"{self.url}/c/pay/{cs_id}",
                "customer": form["customer"],
                "client_reference_id": form.get("client_reference_id"),
                "metadata": form.get("metadata") or {},
                "success_url": form.get("success_url"),
                "cancel_url": form.get("cancel_url"),
                "subscription": None,
                "line_items": form.get("line_items") or [],
                "subscription_data": form.get("subscription_data") or {},
            }
            self.checkout_sessions[cs_id] = session
        return 200, {k: v for k, v in session.items() if k not in ("line_items",)}

    def _create_portal(self, form: dict[str, Any]) -> tuple[int, Any]:
        if form.get("customer") not in self.customers:
            raise StripeError(
                400, f"No such customer: '{form.get('customer')}'", "resource_missing"
            )
        with self._lock:
            portal = {
                "id": self._id("bps"),
                "object": "billing_portal.session",
                "customer": form["customer"],
                "return_url": form.get("return_url"),
                "url": f"{self.url}/p/session/{len(self.portal_sessions) + 1}",
            }
            self.portal_sessions.append(portal)
        return 200, portal

    def _meter_event(self, form: dict[str, Any]) -> tuple[int, Any]:
        payload = form.get("payload") or {}
        if payload.get("stripe_customer_id") not in self.customers:
            raise StripeError(400, "No such customer in the meter event payload.")
        with self._lock:
            identifier = form.get("identifier") or self._id("mev")
            if any(e["identifier"] == identifier for e in self.meter_events):
                raise StripeError(
                    400,
                    f"An event already exists with identifier {identifier}.",
                    "resource_already_exists",
                )
            event = {
                "object": "billing.meter_event",
                "event_name": form.get("event_name"),
                "identifier": identifier,
                "payload": payload,
                "created": self._now(),
                "timestamp": int(form.get("timestamp") or self._clock),
            }
            self.meter_events.append(event)
        return 200, event

    def _subscription(self, method: str, sub_id: str, form: dict[str, Any]) -> tuple[int, Any]:
        with self._lock:
            sub = self.subscriptions.get(sub_id)
            if sub is None:
                raise StripeError(404, f"No such subscription: '{sub_id}'", "resource_missing")
            if method == "GET":
                return 200, sub
            if method == "DELETE":
                previous = {"status": sub["status"]}
                sub["status"] = "canceled"
                self.event("customer.subscription.deleted", sub, previous)
                return 200, sub
            previous = {"items": json.loads(json.dumps(sub["items"]))}
            now = self._now()
            kept = []
            for change in form.get("items") or []:
                item = next(i for i in sub["items"]["data"] if i["id"] == change["id"])
                if change.get("deleted") == "true":
                    continue
                if change.get("price"):
                    if change["price"] not in PRICES:
                        raise StripeError(400, f"No such price: '{change['price']}'")
                    item = {**self._item(sub_id, change["price"], now), "id": item["id"]}
                kept.append(item)
            sub["items"]["data"] = kept or sub["items"]["data"]
            sub["metadata"] = {**sub["metadata"], **(form.get("metadata") or {})}
            self.event("customer.subscription.updated", sub, previous)
            return 200, sub

    def idempotent(self, key: str | None, answer: Any) -> tuple[int, Any]:
        """The first answer given for ``key`` (``answer()`` computes it the first time)."""
        if key is None:
            return answer()  # type: ignore[no-any-return]
        with self._lock:
            if key in self._idempotent:
                return self._idempotent[key]
        result: tuple[int, Any] = answer()
        with self._lock:
            self._idempotent.setdefault(key, result)
            return self._idempotent[key]


def _make_handler(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

        def _handle(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            if not (self.headers.get("Authorization") or "").startswith(f"Bearer {API_KEY}"):
                self._send(401, _error(StripeError(401, "Invalid API Key provided.", "", "")))
                return
            path = self.path.split("?", 1)[0]
            form = parse_form(body)
            failure = fake.outage.next()
            if failure is not None:
                if failure.delay and fake._stopping.wait(failure.delay):
                    self.close_connection = True  # the fake is stopping
                    return
                if failure.error is not None or failure.drop:
                    with fake._lock:
                        fake.requests.append((method, path, form))
                    if failure.error is not None:
                        self._send(failure.error.status, _error(failure.error))
                    else:
                        self.close_connection = True  # no status line: a broken connection
                    return

            def answer() -> tuple[int, Any]:
                try:
                    return fake.handle(method, path, form)
                except StripeError as exc:
                    return exc.status, _error(exc)

            key = self.headers.get("Idempotency-Key") if method == "POST" else None
            status, payload = fake.idempotent(f"{path}:{key}" if key else None, answer)
            if failure is not None and failure.lost:
                with fake._lock:
                    fake.lost.append((method, path, form))
                self.close_connection = True  # carried out; the answer never arrives
                return
            self._send(status, payload)

        def _send(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", f"req_{time.monotonic_ns()}")
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _missing_customer(form: dict[str, Any]) -> StripeError:
    return StripeError(400, f"No such customer: '{form.get('customer')}'", "resource_missing")


def _error(exc: StripeError) -> dict[str, Any]:
    kind = exc.kind if exc.status != 401 else "invalid_request_error"
    return {"error": {"type": kind, "message": str(exc), "code": exc.code or None}}
