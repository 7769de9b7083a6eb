"""A fake Resend: a real HTTP server on 127.0.0.1 for the real ``resend`` SDK.

Point Taskra at it with ``RESEND_API_URL=fake.url`` and any ``RESEND_API_KEY`` (pass
``api_key=`` to insist on one: any other is a 403 ``invalid_api_key``, none a 401).

- ``POST /emails`` checks the fields Resend requires (422 ``validation_error``), records the
  email in :attr:`FakeResend.sent` and answers ``{"id": ...}``. An ``Idempotency-Key`` seen
  before returns the first id and records nothing; the same key with another body is a 409
  ``invalid_idempotent_request``, as on Resend.
- :meth:`FakeResend.fail` queues answers served before normal ones (429 with Retry-After,
  5xx, validation errors, a dropped connection); ``requests`` logs every request.
- Outages: :attr:`FakeResend.outage` (a :class:`~tests.fakes.server.Outage`) answers every
  request with its failures while it is in force: ``fake.outage.begin(server_error(503))``,
  then ``fake.outage.begin(timed_out(1.0), slow(0.5))``, then ``fake.outage.end()``. A
  failure may wait first (``delay``: a slow or hung Resend), drop the connection without an
  answer (``drop``: what a client sees when a request times out or is reset), or carry the
  request out and then lose the answer (``lost``: the email IS sent, the sender does not
  learn it, and its retry must carry the same idempotency key to send nothing twice);
  :attr:`FakeResend.lost` lists the requests whose answers were lost so.

- Receiving: :meth:`FakeResend.receive` keeps an inbound email as Resend would and returns
  its id; ``GET /emails/receiving/{id}`` answers it (404 ``not_found`` for an unknown id).
- Webhooks: :meth:`FakeResend.signed` signs an event the way Resend's Svix does (``svix-id``,
  ``svix-timestamp``, ``svix-signature`` under :attr:`FakeResend.webhook_secret`), and
  :meth:`FakeResend.received_event` builds the ``email.received`` event for a kept email.

Routes are a table (:attr:`FakeResend.routes`), so more of Resend's API can be added beside
``/emails``.
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
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.server import LocalServer, Outage

Answer = tuple[int, Any, dict[str, str]]  # status, JSON body, headers
Route = Callable[["Request"], Answer]


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # keys lower-cased
    body: Any  # parsed JSON, or the raw text when it was not JSON


@dataclasses.dataclass(frozen=True)
class SentEmail:
    id: str
    sender: str
    to: list[str]
    subject: str
    text: str | None
    html: str | None
    reply_to: Any
    headers: dict[str, str]
    idempotency_key: str | None
    body: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Failure:
    """One injected answer, as Resend words its errors. ``drop`` closes the connection.

    ``delay`` waits that many seconds first; ``status=None`` then serves the request normally
    (a slow answer); ``lost`` serves it normally (the email is sent) and then closes the
    connection instead of answering.
    """

    status: int | None = 500
    name: str = "application_error"
    message: str = "Scripted failure"
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    drop: bool = False
    delay: float = 0.0
    lost: bool = False


def rate_limited(retry_after: float = 1.0) -> Failure:
    return Failure(
        429, "rate_limit_exceeded", "Too many requests.", {"retry-after": f"{retry_after:g}"}
    )


def server_error(status: int = 500) -> Failure:
    return Failure(status, "application_error", "Something went wrong.")


def invalid_api_key() -> Failure:
    return Failure(403, "invalid_api_key", "API key is invalid")


def validation_error(message: str = "Invalid `to` field.") -> Failure:
    return Failure(422, "validation_error", message)


def dropped() -> Failure:
    return Failure(drop=True)


def slow(seconds: float) -> Failure:
    """A slow Resend: the request is served normally, ``seconds`` late."""
    return Failure(status=None, delay=seconds)


def timed_out(seconds: float, *, sent: bool = False) -> Failure:
    """A hung request: nothing for ``seconds``, then the connection is closed with no answer,
    as a client sees a timeout. ``sent``: Resend had sent the email all the same."""
    return Failure(status=None, delay=seconds, drop=not sent, lost=sent)


def error_body(status: int, name: str, message: str) -> dict[str, Any]:
    return {"statusCode": status, "name": name, "message": message}


class FakeResend:
    """A threaded HTTP server speaking Resend's sending API. Use as ``with``."""

    def __init__(self, *, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.sent: list[SentEmail] = []
        self.requests: list[Request] = []
        self.routes: list[tuple[str, re.Pattern[str], Route]] = [
            ("POST", re.compile(r"^/emails$"), self._send_email),
            ("GET", re.compile(r"^/emails/receiving/[^/]+$"), self._get_received),
        ]
        self.received: dict[str, dict[str, Any]] = {}
        self.webhook_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        self._failures: deque[Failure] = deque()
        self.outage: Outage[Failure] = Outage()
        self.lost: list[Request] = []  # carried out, answer lost (``Failure.lost``)
        self._stopping = threading.Event()
        self._idempotent: dict[str, tuple[str, str]] = {}  # key -> (canonical body, email id)
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._http = LocalServer("FakeResend")

    @property
    def url(self) -> str:
        return self._http.url

    def start(self) -> FakeResend:
        self._stopping.clear()
        self._http.start(_make_handler(self))
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers waiting out a failure's delay
        self._http.stop()

    def __enter__(self) -> FakeResend:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail(self, *failures: Failure) -> None:
        """Queue answers served, in order, before normal ones."""
        with self._lock:
            self._failures.extend(failures)

    def wait_for_sent(self, count: int = 1, timeout: float = 10.0) -> list[SentEmail]:
        """Block until at least ``count`` emails were sent; returns them all."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.sent) >= count, timeout):
                raise TimeoutError(f"{len(self.sent)} of {count} emails within {timeout} s")
            return list(self.sent)

    # --- receiving and webhooks -------------------------------------------------------------

    def receive(
        self,
        *,
        sender: str,
        to: list[str],
        subject: str,
        text: str | None = None,
        html: str | None = None,
        message_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> str:
        """Keep an inbound email as Resend's receiving does; returns its id."""
        email_id = str(uuid.uuid4())
        message_id = message_id or f"<{uuid.uuid4().hex}@mail.example.com>"
        with self._lock:
            self.received[email_id] = {
                "object": "email",
                "id": email_id,
                "from": sender,
                "to": list(to),
                "cc": [],
                "bcc": [],
                "reply_to": None,
                "received_for": list(to),
                "created_at": "2025-03-17 10:00:00.000000+00",
                "subject": subject,
                "html": html,
                "text": text,
                "message_id": message_id,
                "headers": {"Message-ID": message_id, **(headers or {})},
                "attachments": [],
            }
        return email_id

    def received_event(self, email_id: str) -> dict[str, Any]:
        """The ``email.received`` webhook event for a kept email (metadata only, no body)."""
        email = self.received[email_id]
        return {
            "type": "email.received",
            "created_at": email["created_at"],
            "data": {
                "email_id": email_id,
                "created_at": email["created_at"],
                "from": email["from"],
                "to": email["to"],
                "cc": [],
                "bcc": [],
                "received_for": email["received_for"],
                "message_id": email["message_id"],
                "subject": email["subject"],
                "attachments": [],
            },
        }

    def signed(
        self, event: dict[str, Any], *, secret: str | None = None, timestamp: int | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """``event`` as Resend's Svix delivers it: the JSON body and its signature headers."""
        body = json.dumps(event).encode()
        msg_id = f"msg_{uuid.uuid4().hex}"
        ts = str(int(time.time()) if timestamp is None else timestamp)
        key = base64.b64decode((secret or self.webhook_secret).removeprefix("whsec_"))
        signed = f"{msg_id}.{ts}.".encode() + body
        signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        headers = {"svix-id": msg_id, "svix-timestamp": ts, "svix-signature": f"v1,{signature}"}
        return body, headers

    # --- serving ---------------------------------------------------------------------------

    def handle(self, request: Request) -> Answer | None:
        """The answer to ``request``; ``None`` drops the connection."""
        with self._arrived:
            self.requests.append(request)
            failure = self._failures.popleft() if self._failures else None
        if failure is None:
            failure = self.outage.next()
        if failure is not None:
            if failure.delay and self._stopping.wait(failure.delay):
                return None  # the fake is stopping: nobody waits for this answer any more
            if failure.drop:
                return None
            if failure.status is not None and not failure.lost:
                body = error_body(failure.status, failure.name, failure.message)
                return failure.status, body, failure.headers
        answer = self._serve(request)
        if failure is not None and failure.lost:
            with self._lock:
                self.lost.append(request)
            return None
        return answer

    def _serve(self, request: Request) -> Answer:
        refused = self._authorize(request.headers)
        if refused is not None:
            return refused
        for method, pattern, route in self.routes:
            if method == request.method and pattern.match(request.path):
                return route(request)
        return 404, error_body(404, "not_found", "The requested endpoint does not exist."), {}

    def _authorize(self, headers: dict[str, str]) -> Answer | None:
        auth = headers.get("authorization", "")
        key = auth[7:] if auth.lower().startswith("bearer ") else ""
        if not key or key == "None":  # the SDK sends "Bearer None" when no key is set
            return 401, error_body(401, "missing_api_key", "Missing API key"), {}
        if self.api_key is not None and key != self.api_key:
            return 403, error_body(403, "invalid_api_key", "API key is invalid"), {}
        return None

    def _send_email(self, request: Request) -> Answer:
        body = request.body
        problem = _invalid_email(body)
        if problem is not None:
            return 422, error_body(422, "validation_error", problem), {}
        key = request.headers.get("idempotency-key")
        canonical = json.dumps(body, sort_keys=True)
        with self._arrived:
            if key is not None and key in self._idempotent:
                first_body, first_id = self._idempotent[key]
                if first_body != canonical:
                    message = "Same idempotency key used with a different request payload."
                    return 409, error_body(409, "invalid_idempotent_request", message), {}
                return 200, {"id": first_id}, {}
            email_id = str(uuid.uuid4())
            to = body["to"] if isinstance(body["to"], list) else [body["to"]]
            self.sent.append(
                SentEmail(
                    id=email_id,
                    sender=body["from"],
                    to=list(to),
                    subject=body["subject"],
                    text=body.get("text"),
                    html=body.get("html"),
                    reply_to=body.get("reply_to"),
                    headers=dict(body.get("headers") or {}),
                    idempotency_key=key,
                    body=body,
                )
            )
            if key is not None:
                self._idempotent[key] = (canonical, email_id)
            self._arrived.notify_all()
        return 200, {"id": email_id}, {}

    def _get_received(self, request: Request) -> Answer:
        email_id = request.path.rsplit("/", 1)[1]
        with self._lock:
            email = self.received.get(email_id)
        if email is None:
            return 404, error_body(404, "not_found", "Email not found"), {}
        return 200, email, {}


def _invalid_email(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    for name in ("from", "to", "subject"):
        if not body.get(name):
            return f"Missing `{name}` field."
    if not (body.get("text") or body.get("html")):
        return "Missing `html` or `text` field."
    return None


def _make_handler(fake: FakeResend) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: nothing idles at shutdown
        timeout = 10

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                headers = {k.lower(): v for k, v in self.headers.items()}
                path = self.path.split("?", 1)[0]
                answer = fake.handle(Request(method, path, headers, body))
                if answer is None:
                    self.close_connection = True
                    return  # no status line at all: the client sees a broken connection
                status, payload, extra = answer
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

    return Handler
