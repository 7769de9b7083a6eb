"""A fake Anthropic Messages API: a real HTTP server on 127.0.0.1 for the real ``anthropic`` SDK.

Point a client at it with ``AsyncAnthropic(api_key=..., base_url=fake.base_url)`` or by setting
``ANTHROPIC_BASE_URL``. Queue replies with :meth:`FakeAnthropic.script`; unscripted requests get
a short echo. Usage and prompt caching follow Anthropic's documented semantics, with tokens
estimated as characters / 4 so numbers are deterministic.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.server import LocalServer

TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
LOOKBACK_BLOCKS = 20
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


@dataclasses.dataclass(frozen=True)
class Reply:
    """One scripted reply. Build it with the helpers below rather than directly."""

    content: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    stop_reason: str = "end_turn"
    status: int = 200
    error_type: str | None = None
    message: str = ""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    delay: float = 0.0
    raw_body: str | None = None  # sent verbatim instead of a valid JSON / SSE body


def text_reply(text: str, *, stop_reason: str = "end_turn") -> Reply:
    return Reply(content=[{"type": "text", "text": text}], stop_reason=stop_reason)


def tool_reply(name: str, tool_input: dict[str, Any], *, text: str | None = None) -> Reply:
    """A tool call, e.g. ``tool_reply("classify", {"intent": "refund"})`` for structured fields."""
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    blocks.append({"type": "tool_use", "name": name, "input": tool_input})
    return Reply(content=blocks, stop_reason="tool_use")


def blocks_reply(blocks: list[dict[str, Any]], *, stop_reason: str | None = None) -> Reply:
    tool = any(b.get("type") == "tool_use" for b in blocks)
    return Reply(content=blocks, stop_reason=stop_reason or ("tool_use" if tool else "end_turn"))


def error_reply(
    error_type: str = "overloaded_error",
    *,
    status: int | None = None,
    message: str = "Scripted error",
    retry_after: float | None = None,
    should_retry: bool | None = None,
) -> Reply:
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["retry-after"] = str(retry_after)
    if should_retry is not None:
        headers["x-should-retry"] = "true" if should_retry else "false"
    code = status or ERROR_STATUS[error_type]
    return Reply(status=code, error_type=error_type, message=message, headers=headers)


def delay_reply(seconds: float, then: Reply | None = None) -> Reply:
    """Wait before answering (to trip client timeouts); ``then`` is what is eventually sent."""
    return dataclasses.replace(then or text_reply("Sorry for the wait."), delay=seconds)


def malformed_reply(body: str = '{"id": "msg_broken", "content": [') -> Reply:
    return Reply(raw_body=body)


def search_then_submit(query: str) -> Callable[[dict[str, Any]], Reply]:
    """A responder (``FakeAnthropic(responder=...)``) with the common shape of a real draft:
    one ``search_knowledge`` call for ``query``, then, once the request carries a
    ``tool_result``, a ``submit_reply`` (a short confident reply in English, citing nothing,
    not for a person). Stateless, so every conversation and every retry takes the same two
    steps."""

    def respond(body: dict[str, Any]) -> Reply:
        last = body["messages"][-1]["content"]
        if any(isinstance(b, dict) and b.get("type") == "tool_result" for b in last):
            return tool_reply(
                "submit_reply",
                {
                    "reply": "Thanks for getting in touch: here is what I found.",
                    "sources": [],
                    "intent": "other",
                    "language": "en",
                    "confidence": 0.8,
                    "needs_human": False,
                },
            )
        return tool_reply("search_knowledge", {"query": query})

    return respond


def estimate_tokens(value: Any) -> int:
    """Characters / 4 of the canonical JSON (or of the text itself), at least 1 when non-empty."""
    text = value if isinstance(value, str) else _canonical(value)
    return math.ceil(len(text) / 4)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _strip_cache_control(value: Any) -> Any:
    # Moving a breakpoint must not change the cached content's identity.
    if isinstance(value, dict):
        return {k: _strip_cache_control(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_strip_cache_control(v) for v in value]
    return value


def _prompt_units(body: dict[str, Any]) -> Iterator[tuple[Any, dict[str, Any] | None]]:
    """The prompt in cache order (tools -> system -> messages) as (unit, cache_control) pairs."""
    for tool in body.get("tools") or []:
        yield tool, tool.get("cache_control")
    system = body.get("system")
    if isinstance(system, str):
        yield {"system": system}, None
    elif isinstance(system, list):
        for block in system:
            yield block, block.get("cache_control")
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, str):
            yield {"role": message.get("role"), "text": content}, None
        else:
            for block in content or []:
                unit = {"role": message.get("role"), "block": block}
                yield unit, block.get("cache_control") if isinstance(block, dict) else None


@dataclasses.dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]  # keys lower-cased
    body: Any  # parsed JSON, or the raw text when it was not JSON


class FakeAnthropic:
    """A threaded HTTP server speaking the Messages API. Use as ``with`` / ``async with``."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        min_cache_tokens: int = 1024,
        clock: Callable[[], float] = time.monotonic,
        responder: Callable[[dict[str, Any]], Reply] | None = None,
        stream_chunk_chars: int = 16,
    ) -> None:
        self.api_key = api_key  # when set, any other key is a 401
        self.min_cache_tokens = min_cache_tokens
        self.clock = clock
        self.responder = responder or self._echo
        self.stream_chunk_chars = stream_chunk_chars
        self.requests: list[RecordedRequest] = []
        self._queue: deque[Reply] = deque()
        self._cache: dict[str, float] = {}  # prefix hash -> expiry on self.clock
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._http = LocalServer("FakeAnthropic")

    @property
    def base_url(self) -> str:
        return self._http.url

    def start(self) -> FakeAnthropic:
        self._stopping.clear()
        self._http.start(_make_handler(self))
        return self

    def stop(self) -> None:
        if not self._http.running:
            return
        self._stopping.set()  # wakes handlers sleeping in a scripted delay
        self._http.stop()

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeAnthropic:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    def script(self, *replies: Reply | str | list[dict[str, Any]]) -> None:
        """Queue replies, served in order: a str is text, a list is content blocks."""
        with self._lock:
            for r in replies:
                if not isinstance(r, Reply):
                    r = text_reply(r) if isinstance(r, str) else blocks_reply(r)
                self._queue.append(r)

    def reset_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    @staticmethod
    def _echo(body: dict[str, Any]) -> Reply:
        last = body["messages"][-1].get("content")
        if isinstance(last, list):
            last = " ".join(b.get("text", "") for b in last if isinstance(b, dict))
        return text_reply(f"Echo: {str(last)[:80]}")

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return self.responder(body)

    def _validate(self, headers: dict[str, str], body: Any) -> Reply | None:
        auth = headers.get("authorization", "")
        key = headers.get("x-api-key") or (auth[7:] if auth.lower().startswith("bearer ") else "")
        if not key or (self.api_key is not None and key != self.api_key):
            return error_reply("authentication_error", message="invalid x-api-key")
        if not isinstance(body, dict):
            return error_reply("invalid_request_error", message="body must be a JSON object")
        for name in ("model", "max_tokens", "messages"):
            if name not in body:
                return error_reply("invalid_request_error", message=f"{name}: Field required")
        if type(body["max_tokens"]) is not int or body["max_tokens"] < 1:  # bool is not valid
            return error_reply("invalid_request_error", message="max_tokens: must be >= 1")
        if not isinstance(body["messages"], list) or not body["messages"]:
            return error_reply("invalid_request_error", message="messages: at least one message")
        return None

    def usage_for(self, body: dict[str, Any]) -> dict[str, int]:
        """Input usage for a request, updating the prompt cache like the real API does."""
        running = hashlib.sha256(str(body.get("model")).encode())
        total = 0
        prefixes: list[tuple[str, int]] = []  # (hash, tokens) of the prompt up to each unit
        breakpoints: list[tuple[int, float]] = []  # (unit index, ttl seconds)
        for unit, cache_control in _prompt_units(body):
            plain = _strip_cache_control(unit)
            total += estimate_tokens(plain)
            running.update(_canonical(plain).encode())
            prefixes.append((running.copy().hexdigest(), total))
            if cache_control is not None:
                ttl = TTL_SECONDS.get(str(cache_control.get("ttl", "5m")), TTL_SECONDS["5m"])
                breakpoints.append((len(prefixes) - 1, ttl))
        now = self.clock()
        read = written = 0
        with self._lock:
            # Like the API, each breakpoint also looks back up to 20 blocks for a prefix cached
            # by an earlier request, so a growing conversation reads last turn's cache.
            for index, _ttl in breakpoints:
                for digest, tokens in prefixes[max(0, index - LOOKBACK_BLOCKS) : index + 1]:
                    live = self._cache.get(digest, -math.inf) > now
                    if live and tokens >= self.min_cache_tokens:
                        read = max(read, tokens)
            for index, ttl in breakpoints:
                digest, tokens = prefixes[index]
                if tokens >= self.min_cache_tokens and tokens >= read:
                    self._cache[digest] = now + ttl  # a write, or a hit refreshing its TTL
                    written = max(written, tokens - read)
        return {
            "input_tokens": total - read - written,
            "cache_creation_input_tokens": written,
            "cache_read_input_tokens": read,
        }

    def _message(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        content = []
        for block in reply.content:
            if block.get("type") == "tool_use" and "id" not in block:
                block = {**block, "id": f"toolu_fake{next(self._ids):06d}"}
            content.append(block)
        output = "".join(
            _canonical(b["input"]) if b.get("type") == "tool_use" else b.get("text", "")
            for b in content
        )
        usage = self.usage_for(body)
        usage["output_tokens"] = max(1, estimate_tokens(output))
        return {
            "id": f"msg_fake{next(self._ids):06d}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": reply.stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }

    def _stream_events(self, message: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The SSE events of ``message``; each event's name is its ``type``."""
        usage, n = message["usage"], self.stream_chunk_chars
        start = {**message, "content": [], "stop_reason": None, "usage": {**usage}}
        start["usage"]["output_tokens"] = 1  # as the API does: the real count comes at the end
        yield {"type": "message_start", "message": start}
        for index, block in enumerate(message["content"]):
            if block["type"] == "tool_use":
                opening = {**block, "input": {}}
                text, kind, key = _canonical(block["input"]), "input_json_delta", "partial_json"
            else:
                opening = {**block, "text": ""}
                text, kind, key = block.get("text", ""), "text_delta", "text"
            yield {"type": "content_block_start", "index": index, "content_block": opening}
            for i in range(0, len(text), n):
                delta = {"type": kind, key: text[i : i + n]}
                yield {"type": "content_block_delta", "index": index, "delta": delta}
            yield {"type": "content_block_stop", "index": index}
        end: dict[str, Any] = {"stop_reason": message["stop_reason"], "stop_sequence": None}
        yield {
            "type": "message_delta",
            "delta": end,
            "usage": {"output_tokens": usage["output_tokens"]},
        }
        yield {"type": "message_stop"}


def _make_handler(fake: FakeAnthropic) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: nothing idles at shutdown
        timeout = 10  # a client that connects and never sends must not pin a thread forever

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

        def do_POST(self) -> None:
            # The client may have given up already (its timeout fired during a scripted delay).
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._handle_post()

        def _handle_post(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            path = self.path.split("?", 1)[0]
            with fake._lock:
                fake.requests.append(RecordedRequest(self.path, headers, body))
            if path != "/v1/messages":
                self._send_json(404, _error_body("not_found_error", f"Not found: {path}"))
                return
            problem = fake._validate(headers, body)
            reply = problem or fake._next_reply(body)
            if reply.delay and fake._stopping.wait(reply.delay):
                return  # the fake is shutting down; nobody is waiting for this answer any more
            if reply.raw_body is not None:
                self._send(200, reply.raw_body.encode(), "application/json", {})
            elif reply.error_type is not None:
                error = _error_body(reply.error_type, reply.message)
                self._send_json(reply.status, error, reply.headers)
            elif body.get("stream"):
                self._send_stream(fake._message(body, reply))
            else:
                self._send_json(200, fake._message(body, reply))

        def _send_json(self, status: int, payload: Any, headers: dict[str, str] = {}) -> None:  # noqa: B006
            self._send(status, _canonical(payload).encode(), "application/json", headers)

        def _send(
            self, status: int, data: bytes | None, ctype: str, headers: dict[str, str]
        ) -> None:
            self.send_response(status)
            self.send_header("content-type", ctype)
            self.send_header("request-id", f"req_fake{next(fake._ids):06d}")
            if data is not None:  # a stream has no length: its body ends when the connection does
                self.send_header("content-length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if data is not None:
                self.wfile.write(data)

        def _send_stream(self, message: dict[str, Any]) -> None:
            self._send(200, None, "text/event-stream", {"cache-control": "no-cache"})
            for event in fake._stream_events(message):
                self.wfile.write(f"event: {event['type']}\ndata: {_canonical(event)}\n\n".encode())
                self.wfile.flush()

    return Handler


def _error_body(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}
