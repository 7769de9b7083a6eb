"""A fake Shopify: a real HTTP server on 127.0.0.1 for the real ``shopify_app`` package.

Point Taskra at it with ``TASKRA_SHOPIFY_ORIGIN=fake.origin``: ``shopify_app`` still builds
``https://<shop>.myshopify.com/...`` URLs, Taskra's transport sends them here, and the
``Host`` header tells the fake which shop is meant.

- ``POST /admin/oauth/access_token``: token exchange (a valid HS256 ID token of this app ->
  an offline token, expiring with a refresh token when ``expiring=1``; or an online token
  with the ``associated_user`` of the token's ``sub``, see :mod:`.shopify_staff`) and the
  ``refresh_token`` grant WITH ROTATION: each refresh token works once; reuse is
  ``400 invalid_grant``.
- ``POST /admin/api/<version>/graphql.json``: needs ``X-Shopify-Access-Token`` of a live
  token (else 401). A small GraphQL subset (:mod:`.shopify_graphql`) over the demo store
  (:mod:`.shopify_catalog`): ``shop { ... shopPolicies { ... } }``, ``products(first:,
  after:)`` with cursor pagination, ``product(id:)``, ``productsCount``,
  ``bulkOperationRunQuery`` and ``bulkOperation(id:)`` / ``currentBulkOperation`` /
  ``node(id:)``. Every answer carries ``extensions.cost``; each shop has a leaky bucket
  (``bucket_size`` points restoring at ``restore_rate`` per second) and a query asking for
  more than is left gets ``THROTTLED``. Root fields live in a table another module extends
  with one line (``QUERY_FIELDS["orders"] = resolve_orders``).
- ``GET /bulk/<n>.jsonl``: a completed bulk operation's JSONL (child rows with
  ``__parentId``), the ``url`` the operation reports.
- The Billing API (:mod:`.shopify_billing`): app subscriptions, usage records and
  ``currentAppInstallation``; ``fake.billing.approve(id)`` plays the merchant on the
  confirmation page and returns the ``app_subscriptions/update`` payloads.
- :meth:`FakeShopify.inject` queues failures (429 with Retry-After, 5xx, ``THROTTLED``,
  OAuth errors, delays, dropped connections); ``requests`` logs every request; ``counts``
  counts what was served.
- Outages: ``fake.outages["graphql"]`` (or ``["token"]``), a
  :class:`~tests.fakes.server.Outage`, answers every request to that route with its
  failures while it is in force: ``fake.outages["graphql"].begin(server_error(503))``, then
  ``.begin(timed_out(1.0), delayed(1.0))``, then ``.end()``. Queued failures come first.

:func:`mint_id_token` signs ID tokens the way Shopify does (HS256 with the client secret).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

import jwt

from taskra_core.demo import FELLANDFORD
from tests.fakes import shopify_orders  # noqa: F401  (registers the orders root field)
from tests.fakes.server import LocalServer, Outage
from tests.fakes.shopify_billing import BillingState
from tests.fakes.shopify_catalog import BulkOperation, graphql_product
from tests.fakes.shopify_graphql import (
    MAX_QUERY_COST,
    GraphQLError,
    Root,
    actual_cost,
    parse,
    requested_cost,
    resolve,
)
from tests.fakes.shopify_staff import ONLINE, Staff

CLIENT_ID = "taskra-test-client-id"
# 64 bytes: PyJWT warns about HMAC keys shorter than the hash (HS512 in tests), and
# warnings fail the tests.
CLIENT_SECRET = "taskra-test-client-secret-" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEF"
SHOP = "fellandford.myshopify.com"
SCOPES = "read_products,read_orders,read_customers,read_content"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
OFFLINE = "urn:shopify:params:oauth:token-type:offline-access-token"
BAD_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
GRAPHQL_PATH = re.compile(r"^/admin/api/(?P<version>\d{4}-\d{2}|unstable)/graphql\.json$")
BULK_PATH = re.compile(r"^/bulk/(?P<number>\d+)\.jsonl$")


def mint_id_token(
    shop: str = SHOP,
    *,
    client_id: str = CLIENT_ID,
    secret: str = CLIENT_SECRET,
    now: float | None = None,
    lifetime: int = 60,
    algorithm: str = "HS256",
    **overrides: Any,
) -> str:
    """An app-home ID token as Shopify signs it; a claim overridden with None is left out."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": f"https://{shop}/admin",
        "dest": f"https://{shop}",
        "aud": client_id,
        "sub": "73014624313",
        "exp": issued + lifetime,
        "nbf": issued,
        "iat": issued,
        "jti": str(uuid.uuid4()),
        "sid": secrets.token_hex(16),
    }
    for name, value in overrides.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return jwt.encode(claims, secret, algorithm=algorithm)


def sign_webhook(body: bytes, secret: str = CLIENT_SECRET) -> str:
    """X-Shopify-Hmac-Sha256 as Shopify computes it: base64(HMAC-SHA256(secret, raw body))."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclasses.dataclass(frozen=True)
class Failure:
    """One injected answer. ``status=None`` only delays, then serves normally; ``drop``
    closes the connection after the delay without any answer."""

    status: int | None = None
    body: Any = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


def rate_limited(retry_after: float = 2.0) -> Failure:
    return Failure(
        429, {"errors": "Exceeded 2 calls per second"}, {"Retry-After": f"{retry_after:g}"}
    )


def server_error(status: int = 500) -> Failure:
    return Failure(status, {"errors": "Internal Server Error"})


def oauth_error(error: str, status: int = 400) -> Failure:
    return Failure(status, {"error": error, "error_description": f"Scripted {error}"})


def delayed(seconds: float, then: Failure | None = None) -> Failure:
    return dataclasses.replace(then or Failure(), delay=seconds)


def timed_out(seconds: float) -> Failure:
    """A hung request: nothing for ``seconds``, then the connection is closed with no answer
    (what a client sees when a request times out or is reset)."""
    return Failure(delay=seconds, drop=True)


def throttled(requested: int = 502, available: int = 100, restore_rate: float = 100.0) -> Failure:
    cost = {
        "requestedQueryCost": requested,
        "actualQueryCost": None,
        "throttleStatus": {
            "maximumAvailable": 2000.0,
            "currentlyAvailable": available,
            "restoreRate": restore_rate,
        },
    }
    error = {"message": "Throttled", "extensions": {"code": "THROTTLED"}}
    return Failure(200, {"errors": [error], "extensions": {"cost": cost}})


@dataclasses.dataclass
class Grant:
    shop: str
    expires_at: float | None
    used: bool = False  # refresh tokens only
    revoked: bool = False


@dataclasses.dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # keys lower-cased
    body: Any


class FakeShopify:
    """A threaded HTTP server speaking Shopify's OAuth and Admin GraphQL. Use as ``with``."""

    def __init__(
        self,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        access_token_ttl: int = 3600,
        refresh_token_ttl: int = 90 * 86400,
        scopes: str = SCOPES,
        clock: Callable[[], float] = time.time,
        bucket_size: int = 2000,
        restore_rate: float = 100.0,
        bulk_polls: int = 1,
    ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.access_token_ttl, self.refresh_token_ttl = access_token_ttl, refresh_token_ttl
        self.scopes, self.clock = scopes, clock
        self.requests: list[RecordedRequest] = []
        self.counts: Counter[str] = Counter()
        self.access_tokens: dict[str, Grant] = {}
        self.refresh_tokens: dict[str, Grant] = {}
        self.staff = Staff()
        self._failures: dict[str, deque[Failure]] = {"token": deque(), "graphql": deque()}
        self.outages: dict[str, Outage[Failure]] = {"token": Outage(), "graphql": Outage()}
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._http = LocalServer("FakeShopify")
        self.shop_data = json.loads((FELLANDFORD / "shop.json").read_text())
        self.policies = json.loads((FELLANDFORD / "policies.json").read_text())
        self.products = [
            graphql_product(p) for p in json.loads((FELLANDFORD / "products.json").read_text())
        ]
        # Cost-based throttling: a leaky bucket of points per shop, (level, at monotonic time).
        self.bucket_size, self.restore_rate = bucket_size, restore_rate
        self._buckets: dict[str, tuple[float, float]] = {}
        # Status reads of a bulk operation that still see it RUNNING.
        self.bulk_polls = bulk_polls
        self.bulk_operations: dict[str, BulkOperation] = {}
        self.billing = BillingState(self._lock)  # the Billing API (see shopify_billing)

    @property
    def origin(self) -> str:
        return self._http.url

    @property
    def refreshes(self) -> int:
        """Refresh grants served successfully."""
        return self.counts["refresh"]

    @property
    def exchanges(self) -> int:
        """Offline token exchanges served successfully."""
        return self.counts["exchange"]

    @property
    def online_exchanges(self) -> int:
        """Online token exchanges (who is this staff member?) served successfully."""
        return self.counts["online_exchange"]

    def start(self) -> FakeShopify:
        self._stopping.clear()
        self._http.start(_make_handler(self))
        return self

    def stop(self) -> None:
        if not self._http.running:
            return
        self._stopping.set()  # wakes handlers sleeping in an injected delay
        self._http.stop()

    def __enter__(self) -> FakeShopify:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(self, route: str, *failures: Failure) -> None:
        """Queue answers for ``route`` ("token" or "graphql"), served before normal ones."""
        with self._lock:
            self._failures[route].extend(failures)

    def revoke(self, shop: str = SHOP, *, refresh: bool = False) -> None:
        """Revoke the shop's access tokens (and refresh tokens too, if asked)."""
        with self._lock:
            for grants in (self.access_tokens, self.refresh_tokens if refresh else {}):
                for grant in grants.values():
                    if grant.shop == shop:
                        grant.revoked = True

    def requests_to(self, prefix: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    def wait_for(self, prefix: str, timeout: float = 10.0) -> RecordedRequest:
        """Block until a request to ``prefix`` has arrived (it may still be in progress)."""
        with self._arrived:
            found = self._arrived.wait_for(
                lambda: [r for r in self.requests if r.path.startswith(prefix)], timeout
            )
        if not found:
            raise TimeoutError(f"no request to {prefix} within {timeout} s")
        return found[0]

    # --- OAuth -------------------------------------------------------------------------------

    def _issue(self, shop: str, *, expiring: bool) -> dict[str, Any]:
        now, token = self.clock(), f"shpat_{secrets.token_hex(16)}"
        answer: dict[str, Any] = {"access_token": token, "scope": self.scopes}
        self.access_tokens[token] = Grant(shop, now + self.access_token_ttl if expiring else None)
        if expiring:
            refresh = f"shprt_{secrets.token_hex(16)}"
            self.refresh_tokens[refresh] = Grant(shop, now + self.refresh_token_ttl)
            answer |= {
                "expires_in": self.access_token_ttl,
                "refresh_token": refresh,
                "refresh_token_expires_in": self.refresh_token_ttl,
            }
        return answer

    def token_endpoint(self, shop: str, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return 400, {"error": "invalid_request"}
        if (
            body.get("client_id") != self.client_id
            or body.get("client_secret") != self.client_secret
        ):
            return 400, {"error": "invalid_client"}
        grant_type = body.get("grant_type")
        with self._lock:
            if grant_type == EXCHANGE:
                kind = body.get("requested_token_type")
                if kind not in (OFFLINE, ONLINE):
                    return 400, {"error": "unsupported_token_type"}
                claims = self._subject_claims(shop, body.get("subject_token"))
                if claims is None:
                    return 400, {"error": "invalid_subject_token"}
                if kind == ONLINE:
                    if "sub" not in claims:  # an online token is a person's; no person, none
                        return 400, {"error": "invalid_subject_token"}
                    self.counts["online_exchange"] += 1
                    return 200, self.staff.online_grant(shop, claims, self.scopes)
                self.counts["exchange"] += 1
                return 200, self._issue(shop, expiring=str(body.get("expiring")) == "1")
            if grant_type == "refresh_token":
                grant = self.refresh_tokens.get(str(body.get("refresh_token")))
                if grant is None or grant.used or not self._alive(grant, shop):
                    self.counts["refresh_rejected"] += 1
                    return 400, {"error": "invalid_grant"}
                grant.used = True
                self.counts["refresh"] += 1
                return 200, self._issue(shop, expiring=True)
        return 400, {"error": "unsupported_grant_type"}

    def _subject_claims(self, shop: str, token: Any) -> dict[str, Any] | None:
        try:
            claims: dict[str, Any] = jwt.decode(
                str(token),
                self.client_secret,
                algorithms=["HS256"],
                audience=self.client_id,
                leeway=10,
                options={"require": ["exp", "dest"]},
            )
        except jwt.PyJWTError:
            return None
        return claims if claims["dest"] == f"https://{shop}" else None

    def live(self, shop: str, token: str) -> bool:
        """Whether ``token`` is an unexpired, unrevoked access token of ``shop``."""
        with self._lock:
            grant = self.access_tokens.get(token)
            return grant is not None and self._alive(grant, shop)

    def _alive(self, grant: Grant, shop: str) -> bool:
        fresh = grant.expires_at is None or grant.expires_at > self.clock()
        return fresh and not grant.revoked and grant.shop == shop

    # --- Admin GraphQL -----------------------------------------------------------------------

    def graphql(self, shop: str, body: Any) -> dict[str, Any]:
        """Answer an Admin GraphQL request, charging its cost to the shop's leaky bucket."""
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return {"errors": [{"message": "No query string was present"}]}
        try:
            operation = parse(body["query"], body.get("variables") or {})
        except GraphQLError as exc:
            return _error(exc)
        requested = requested_cost(operation.selections, mutation=operation.kind == "mutation")
        with self._lock:
            available = self._refill(shop)
            if requested > MAX_QUERY_COST:
                message = (
                    f"Query cost is {requested}, which exceeds the single query max cost "
                    f"limit ({MAX_QUERY_COST})."
                )
                too_big = _error(GraphQLError(message, "MAX_COST_EXCEEDED"))
                return self._costed(too_big, shop, requested, None)
            if requested > available:
                self.counts["throttled"] += 1
                throttled = _error(GraphQLError("Throttled", "THROTTLED"))
                return self._costed(throttled, shop, requested, None)
            try:
                data = resolve(Root(self, shop), operation)
            except GraphQLError as exc:
                return _error(exc)
            actual = actual_cost(operation.selections, data)
            self._buckets[shop] = (available - actual, time.monotonic())
            self.counts["graphql"] += 1
        return self._costed({"data": data}, shop, requested, actual)

    def _refill(self, shop: str) -> float:
        """The shop's available points now (the bucket leaks back at ``restore_rate``/s)."""
        level, since = self._buckets.get(shop, (self.bucket_size, time.monotonic()))
        now = time.monotonic()
        level = min(self.bucket_size, level + (now - since) * self.restore_rate)
        self._buckets[shop] = (level, now)
        return level

    def _costed(
        self, answer: dict[str, Any], shop: str, requested: int, actual: int | None
    ) -> dict[str, Any]:
        level, _since = self._buckets.get(shop, (self.bucket_size, 0.0))
        status = {
            "maximumAvailable": float(self.bucket_size),
            "currentlyAvailable": int(level),
            "restoreRate": float(self.restore_rate),
        }
        cost = {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": status,
        }
        return answer | {"extensions": {"cost": cost}}

    # --- the store's data ---------------------------------------------------------------------

    def now_iso(self) -> str:
        return datetime.fromtimestamp(self.clock(), UTC).isoformat().replace("+00:00", "Z")

    def catalog(self, shop: str) -> list[dict[str, Any]]:
        """The shop's products (every shop of the fake sells the demo store's)."""
        return self.products

    def find_product(self, shop: str, gid: str) -> dict[str, Any] | None:
        return next((p for p in self.catalog(shop) if p["id"] == gid), None)

    def product_by_handle(self, handle: str) -> dict[str, Any]:
        return next(p for p in self.products if p["handle"] == handle)

    def update_product(self, handle: str, **fields: Any) -> dict[str, Any]:
        """Change a product as a merchant would; its ``updatedAt`` becomes now."""
        with self._lock:
            product = self.product_by_handle(handle)
            product.update(fields, updatedAt=self.now_iso())
        return product

    def delete_product(self, handle: str) -> dict[str, Any]:
        with self._lock:
            product = self.product_by_handle(handle)
            self.products.remove(product)
        return product

    def finish_bulk_operations(self) -> list[str]:
        """Complete every running bulk operation now; returns their ids."""
        with self._lock:
            running = [op for op in self.bulk_operations.values() if op.status == "RUNNING"]
            for operation in running:
                operation.polls_left = 0
                operation.poll(self)
        return [op.id for op in running]

    def bulk_file(self, number: str) -> str | None:
        """The JSONL result of bulk operation ``number``, as its ``url`` serves it."""
        operation = self.bulk_operations.get(f"gid://shopify/BulkOperation/{number}")
        if operation is None or operation.status != "COMPLETED":
            return None
        return "".join(json.dumps(line) + "\n" for line in operation.lines)


def _error(exc: GraphQLError) -> dict[str, Any]:
    return {"errors": [{"message": str(exc), "extensions": {"code": exc.code}}]}


def _make_handler(fake: FakeShopify) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: nothing idles at shutdown
        timeout = 10

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._handle()

        def do_GET(self) -> None:
            # Bulk operation results: on Shopify a signed storage URL, readable without the
            # access token.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                path = self.path.split("?", 1)[0]
                with fake._arrived:
                    fake.requests.append(RecordedRequest("GET", self.path, {}, None))
                    fake._arrived.notify_all()
                match = BULK_PATH.match(path)
                text = fake.bulk_file(match["number"]) if match else None
                if text is None:
                    return self._send(404, {"errors": "Not Found"})
                data = text.encode()
                self.send_response(200)
                self.send_header("content-type", "application/jsonl")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        def _handle(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            path = self.path.split("?", 1)[0]
            with fake._arrived:
                fake.requests.append(RecordedRequest("POST", self.path, headers, body))
                fake._arrived.notify_all()
            shop = headers.get("host", "").split(":")[0].lower()
            route = "token" if path == "/admin/oauth/access_token" else "graphql"
            if route == "graphql" and not GRAPHQL_PATH.match(path):
                return self._send(404, {"errors": "Not Found"})
            if not re.fullmatch(r"[a-z0-9][a-z0-9-]*\.myshopify\.com", shop):
                return self._send(404, {"errors": f"Unknown shop {shop!r}"})
            with fake._lock:
                queue = fake._failures[route]
                failure = queue.popleft() if queue else None
            if failure is None:
                failure = fake.outages[route].next()
            if failure is not None:
                if failure.delay and fake._stopping.wait(failure.delay):
                    return None  # shutting down: nobody waits for this answer any more
                if failure.drop:
                    self.close_connection = True
                    return None  # no status line at all: the client sees a broken connection
                if failure.status is not None:
                    return self._send(failure.status, failure.body, failure.headers)
            if route == "token":
                return self._send(*fake.token_endpoint(shop, body))
            if not fake.live(shop, headers.get("x-shopify-access-token", "")):
                return self._send(401, {"errors": BAD_TOKEN})
            return self._send(200, fake.graphql(shop, body))

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler
