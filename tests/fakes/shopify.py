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
  token (else 401). A small GraphQL subset over the demo store: ``shop { ... shopPolicies
  { ... } }`` and ``products(first:, after:)`` with cursor pagination (``edges``, ``nodes``,
  ``pageInfo``), fields projected as selected, ``extensions.cost`` included.
- :meth:`FakeShopify.inject` queues failures (429 with Retry-After, 5xx, ``THROTTLED``,
  OAuth errors, delays); ``requests`` logs every request; ``counts`` counts what was served.

:func:`mint_id_token` signs ID tokens the way Shopify does (HS256 with the client secret).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import html
import json
import re
import secrets
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

import jwt

from taskra_core.demo import FELLANDFORD
from tests.fakes.server import LocalServer
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
MAX_PAGE = 250


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


@dataclasses.dataclass(frozen=True)
class Failure:
    """One injected answer. ``status=None`` only delays, then serves normally."""

    status: int | None = None
    body: Any = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    delay: float = 0.0


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
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._http = LocalServer("FakeShopify")
        self.shop_data = json.loads((FELLANDFORD / "shop.json").read_text())
        self.policies = json.loads((FELLANDFORD / "policies.json").read_text())
        self.products = [
            _product(p) for p in json.loads((FELLANDFORD / "products.json").read_text())
        ]

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
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return {"errors": [{"message": "No query string was present"}]}
        variables = body.get("variables") or {}
        try:
            selections = _Parser(body["query"], variables).document()
            cost = [1]
            root = {"shop": self._shop(shop), "products": _connection(self.products, cost)}
            data = _project(root, selections, "QueryRoot")
        except _GraphQLError as exc:
            return {"errors": [{"message": str(exc), "extensions": {"code": exc.code}}]}
        with self._lock:
            self.counts["graphql"] += 1
        status = {
            "maximumAvailable": 2000.0,
            "currentlyAvailable": 2000 - sum(cost),
            "restoreRate": 100.0,
        }
        extensions = {
            "cost": {
                "requestedQueryCost": sum(cost),
                "actualQueryCost": sum(cost),
                "throttleStatus": status,
            }
        }
        return {"data": data, "extensions": extensions}

    def _shop(self, shop: str) -> dict[str, Any]:
        policies = [
            {
                "id": f"gid://shopify/ShopPolicy/{n}",
                "type": p["type"],
                "title": p["title"],
                "body": p["body"],
                "url": f"https://{shop}/policies/{p['type'].lower().replace('_', '-')}",
            }
            for n, p in enumerate(self.policies, start=1)
        ]
        d = self.shop_data
        return {
            "id": "gid://shopify/Shop/1",
            "name": d["name"],
            "email": d["email"],
            "contactEmail": d["email"],
            "currencyCode": d["currency"],
            "myshopifyDomain": shop,
            "shopPolicies": policies,
        }


def _product(p: dict[str, Any]) -> dict[str, Any]:
    """A demo-store product (REST-like JSON) in Admin GraphQL shape."""
    names = [o["name"] for o in sorted(p["options"], key=lambda o: o["position"])]
    variants = [
        {
            "id": v["id"],
            "title": v["title"],
            "sku": v["sku"],
            "price": v["price"],
            "compareAtPrice": v["compare_at_price"],
            "inventoryQuantity": v["inventory_quantity"],
            "inventoryPolicy": v["inventory_policy"].upper(),
            "selectedOptions": [
                {"name": name, "value": v[f"option{i}"]}
                for i, name in enumerate(names, start=1)
                if v.get(f"option{i}") is not None
            ],
        }
        for v in p["variants"]
    ]
    return {
        "id": p["id"],
        "handle": p["handle"],
        "title": p["title"],
        "descriptionHtml": p["body_html"],
        "description": html.unescape(re.sub(r"<[^>]+>", " ", p["body_html"])).strip(),
        "vendor": p["vendor"],
        "productType": p["product_type"],
        "tags": list(p["tags"]),
        "status": p["status"].upper(),
        "options": [
            {"name": o["name"], "position": o["position"], "values": o["values"]}
            for o in p["options"]
        ],
        "totalInventory": sum(v["inventory_quantity"] for v in p["variants"]),
        "variants": _connection(variants, None),
    }


class _GraphQLError(Exception):
    def __init__(self, message: str, code: str = "badRequest") -> None:
        super().__init__(message)
        self.code = code


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"i": index}).encode()).decode()


def _connection(items: list[Any], cost: list[int] | None) -> Callable[[dict[str, Any]], Any]:
    """A connection field: ``first`` is required (as on Shopify), ``after`` a cursor."""

    def resolve(args: dict[str, Any]) -> dict[str, Any]:
        first = args.get("first")
        if not isinstance(first, int) or not 0 <= first <= MAX_PAGE:
            raise _GraphQLError(f"you must provide first between 0 and {MAX_PAGE}")
        start = 0
        if args.get("after") is not None:
            try:
                start = json.loads(base64.urlsafe_b64decode(str(args["after"])))["i"] + 1
            except (ValueError, KeyError, TypeError):
                raise _GraphQLError("Invalid cursor for current pagination sort.") from None
        if cost is not None:
            cost.append(first)
        page = list(enumerate(items))[start : start + first]
        return {
            "edges": [{"cursor": _cursor(i), "node": node} for i, node in page],
            "nodes": [node for _, node in page],
            "pageInfo": {
                "hasNextPage": start + len(page) < len(items),
                "hasPreviousPage": start > 0,
                "startCursor": _cursor(page[0][0]) if page else None,
                "endCursor": _cursor(page[-1][0]) if page else None,
            },
        }

    return resolve


Selection = tuple[str, str, dict[str, Any], list[Any]]  # (key, field name, args, children)


def _project(value: Any, selections: list[Selection], type_name: str) -> Any:
    """Only the selected fields of ``value``, as a GraphQL server would answer."""
    if isinstance(value, list):
        return [_project(v, selections, type_name) for v in value]
    out: dict[str, Any] = {}
    for key, name, args, children in selections:
        if name == "__typename":
            out[key] = type_name
            continue
        if not isinstance(value, dict) or name not in value:
            raise _GraphQLError(
                f"Field '{name}' doesn't exist on type '{type_name}'", "undefinedField"
            )
        field = value[name]
        if callable(field):
            field = field(args)
        elif args:
            raise _GraphQLError(f"Field '{name}' doesn't accept arguments", "argumentNotAccepted")
        if children and field is not None:
            field = _project(field, children, name[:1].upper() + name[1:])
        elif isinstance(field, dict) and not children:
            raise _GraphQLError(f"Field '{name}' must have selections", "selectionMismatch")
        out[key] = field
    return out


class _Parser:
    """Just enough GraphQL: one query, fields, aliases, arguments and $variables."""

    TOKEN = re.compile(r'\s+|,|#[^\n]*|(\.\.\.|[{}():$!\[\]=@]|"(?:\\.|[^"\\])*"|[\w.-]+)')

    def __init__(self, source: str, variables: dict[str, Any]) -> None:
        self.variables, self.tokens, self.i, pos = variables, list[str](), 0, 0
        while pos < len(source):
            match = self.TOKEN.match(source, pos)
            if match is None:
                raise _GraphQLError(f"Parse error on {source[pos]!r} at {pos}", "parseError")
            self.tokens += [match.group(1)] if match.group(1) else []
            pos = match.end()

    def take(self, expected: str | None = None) -> str:
        token = self.tokens[self.i] if self.i < len(self.tokens) else None
        if token is None or expected not in (None, token):
            raise _GraphQLError(f"Parse error: expected {expected}, got {token}", "parseError")
        self.i += 1
        return token

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def document(self) -> list[Selection]:
        # "query Name($first: Int!, $after: String)" before the first brace: types unchecked.
        self.i = self.tokens.index("{") if "{" in self.tokens else 0
        if {"mutation", "subscription"} & set(self.tokens[: self.i]):
            raise _GraphQLError("The fake serves queries only", "parseError")
        selections = self.selection_set()
        if self.peek() is not None:
            raise _GraphQLError("The fake serves one operation per document", "parseError")
        return selections

    def selection_set(self) -> list[Selection]:
        self.take("{")
        selections: list[Selection] = []
        while self.peek() != "}":
            if self.peek() == "...":
                raise _GraphQLError("The fake does not support fragments", "parseError")
            key = name = self.take()
            if self.peek() == ":":
                self.take()
                name = self.take()
            args: dict[str, Any] = {}
            if self.peek() == "(":
                self.take()
                while self.peek() != ")":
                    arg = self.take()
                    self.take(":")
                    args[arg] = self.value()
                self.take(")")
            children = self.selection_set() if self.peek() == "{" else []
            selections.append((key, name, args, children))
        self.take("}")
        return selections

    def value(self) -> Any:
        token = self.take()
        if token == "$":
            return self.variables.get(self.take())
        if token.startswith('"'):
            return json.loads(token)
        if re.fullmatch(r"-?\d+", token):
            return int(token)
        return {"true": True, "false": False, "null": None}.get(token, token)


def _make_handler(fake: FakeShopify) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: nothing idles at shutdown
        timeout = 10

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._handle()

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
            if failure is not None:
                if failure.delay and fake._stopping.wait(failure.delay):
                    return None  # shutting down: nobody waits for this answer any more
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
