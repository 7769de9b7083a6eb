"""The fake Anthropic API, exercised through the real ``anthropic`` SDK over real HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anthropic
import httpx
import pytest
from anthropic.types import MessageParam

from tests.fakes.anthropic import (
    FakeAnthropic,
    delay_reply,
    error_reply,
    estimate_tokens,
    malformed_reply,
    search_then_submit,
    text_reply,
    tool_reply,
)

MODEL = "claude-test-model"
USER: list[MessageParam] = [{"role": "user", "content": "Where is my order #1001?"}]


@asynccontextmanager
async def client_for(
    fake: FakeAnthropic, *, max_retries: int = 0, **kwargs: Any
) -> AsyncIterator[anthropic.AsyncAnthropic]:
    # Closing the client closes its sockets; filterwarnings=error would flag a leak.
    async with anthropic.AsyncAnthropic(
        api_key="test-key", base_url=fake.base_url, max_retries=max_retries, **kwargs
    ) as client:
        yield client


class Clock:
    """A settable clock for the fake's cache TTLs."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cached_system(text: str, ttl: str | None = None) -> Any:
    control: dict[str, Any] = {"type": "ephemeral", **({"ttl": ttl} if ttl else {})}
    return [{"type": "text", "text": text, "cache_control": control}]


LONG_SYSTEM = "You are Taskra, a support agent for Fell & Ford. " * 20  # ~250 estimated tokens


def answered(first: Any, result: dict[str, Any]) -> Any:
    """The conversation after ``first`` (a tool call) and the client's ``result`` for it."""
    return [
        *USER,
        {"role": "assistant", "content": [block.model_dump() for block in first.content]},
        {"role": "user", "content": [result]},
    ]


async def test_text_reply(fake_anthropic: FakeAnthropic) -> None:
    """A scripted text reply comes back through the SDK as a parsed Message."""
    fake_anthropic.script("Your order shipped yesterday.")
    async with client_for(fake_anthropic) as client:
        message = await client.messages.create(model=MODEL, max_tokens=100, messages=USER)
    assert message.content[0].type == "text"
    assert message.content[0].text == "Your order shipped yesterday."
    assert message.stop_reason == "end_turn"
    assert message.model == MODEL


async def test_default_responder_echoes(fake_anthropic: FakeAnthropic) -> None:
    """With nothing scripted, the fake answers with a short echo of the last user message."""
    async with client_for(fake_anthropic) as client:
        message = await client.messages.create(model=MODEL, max_tokens=100, messages=USER)
    assert message.content[0].type == "text"
    assert message.content[0].text == "Echo: Where is my order #1001?"


async def test_tool_use_round_trip(fake_anthropic: FakeAnthropic) -> None:
    """A tool_use reply, then the client's tool_result, then a final text answer."""
    tools: Any = [{"name": "lookup_order", "description": "Find an order", "input_schema": {}}]
    fake_anthropic.script(tool_reply("lookup_order", {"number": "1001"}), "It shipped on Monday.")
    async with client_for(fake_anthropic) as client:
        first = await client.messages.create(
            model=MODEL, max_tokens=100, messages=USER, tools=tools
        )
        assert first.stop_reason == "tool_use"
        call = first.content[0]
        assert call.type == "tool_use"
        assert (call.name, call.input) == ("lookup_order", {"number": "1001"})
        result = {"type": "tool_result", "tool_use_id": call.id, "content": "shipped Monday"}
        history = answered(first, result)
        final = await client.messages.create(
            model=MODEL, max_tokens=100, messages=history, tools=tools
        )
    assert final.content[0].type == "text"
    assert final.content[0].text == "It shipped on Monday."
    sent = fake_anthropic.requests[1].body["messages"][2]["content"][0]
    assert sent == result


async def test_search_then_submit_responder(fake_anthropic: FakeAnthropic) -> None:
    """The shared draft-shaped responder searches the knowledge for its query first, then
    submits a reply once the conversation holds the search's result."""
    fake_anthropic.responder = search_then_submit("leg length")
    async with client_for(fake_anthropic) as client:
        first = await client.messages.create(model=MODEL, max_tokens=100, messages=USER)
        call = first.content[0]
        assert call.type == "tool_use"
        assert (call.name, call.input) == ("search_knowledge", {"query": "leg length"})
        result = {"type": "tool_result", "tool_use_id": call.id, "content": "found"}
        history = answered(first, result)
        final = await client.messages.create(model=MODEL, max_tokens=100, messages=history)
    submitted = final.content[0]
    assert submitted.type == "tool_use"
    assert submitted.name == "submit_reply"
    assert isinstance(submitted.input, dict)
    assert submitted.input["needs_human"] is False


async def test_streaming_text() -> None:
    """``messages.stream`` yields text deltas and ``get_final_message`` assembles them."""
    text = "Your refund of $42.00 was issued today and should arrive within five days."
    async with FakeAnthropic(stream_chunk_chars=7) as fake:
        fake.script(text)
        async with (
            client_for(fake) as client,
            client.messages.stream(model=MODEL, max_tokens=100, messages=USER) as s,
        ):
            chunks = [chunk async for chunk in s.text_stream]
            final = await s.get_final_message()
    assert len(chunks) == 11
    assert "".join(chunks) == text
    assert final.content[0].type == "text"
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == estimate_tokens(text)
    assert fake.requests[0].body["stream"] is True


async def test_streaming_tool_use(fake_anthropic: FakeAnthropic) -> None:
    """A streamed tool_use arrives as input_json_delta chunks that the SDK reassembles."""
    fake_anthropic.script(tool_reply("classify", {"intent": "refund", "urgency": 3}, text="Hm."))
    async with (
        client_for(fake_anthropic) as client,
        client.messages.stream(model=MODEL, max_tokens=100, messages=USER) as stream,
    ):
        final = await stream.get_final_message()
    assert [block.type for block in final.content] == ["text", "tool_use"]
    assert final.content[1].type == "tool_use"
    assert final.content[1].input == {"intent": "refund", "urgency": 3}
    assert final.stop_reason == "tool_use"


async def test_usage_fields(fake_anthropic: FakeAnthropic) -> None:
    """Usage carries deterministic input/output estimates and zero cache tokens without caching."""
    fake_anthropic.script("Twelve chars")
    async with client_for(fake_anthropic) as client:
        message = await client.messages.create(
            model=MODEL, max_tokens=100, system="Be brief.", messages=USER
        )
    assert message.usage.output_tokens == 3
    expected = estimate_tokens({"system": "Be brief."}) + estimate_tokens(
        {"role": "user", "text": USER[0]["content"]}
    )
    assert message.usage.input_tokens == expected
    assert message.usage.cache_creation_input_tokens == 0
    assert message.usage.cache_read_input_tokens == 0


async def test_prompt_cache_write_then_read() -> None:
    """The first call writes the cached prefix; an identical prefix is then read from cache."""
    async with FakeAnthropic(min_cache_tokens=100) as fake, client_for(fake) as client:
        kwargs: Any = {"model": MODEL, "max_tokens": 50, "system": cached_system(LONG_SYSTEM)}
        first = await client.messages.create(messages=USER, **kwargs)
        other: list[MessageParam] = [{"role": "user", "content": "Can I change my address?"}]
        second = await client.messages.create(messages=other, **kwargs)
    written = first.usage.cache_creation_input_tokens
    assert written is not None
    assert written >= 100
    assert first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == written
    assert second.usage.cache_creation_input_tokens == 0
    # input_tokens is only the uncached remainder: the user message after the breakpoint.
    assert second.usage.input_tokens == estimate_tokens(
        {"role": "user", "text": other[0]["content"]}
    )


async def test_prompt_cache_growing_conversation_reads_previous_turn() -> None:
    """A breakpoint on the latest message reads the prefix cached by the previous turn."""
    turn = {"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}
    async with FakeAnthropic(min_cache_tokens=100) as fake, client_for(fake) as client:
        history: Any = [{"role": "user", "content": [turn]}]
        first = await client.messages.create(model=MODEL, max_tokens=50, messages=history)
        plain_turn = {k: v for k, v in turn.items() if k != "cache_control"}
        history = [
            {"role": "user", "content": [plain_turn]},
            {"role": "assistant", "content": "Noted."},
            {"role": "user", "content": [{**turn, "text": "And my refund?"}]},
        ]
        second = await client.messages.create(model=MODEL, max_tokens=50, messages=history)
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens
    assert second.usage.input_tokens == 0


async def test_prompt_cache_miss_on_changed_system() -> None:
    """Changing the system prompt changes the prefix hash, so it is written again, not read."""
    async with FakeAnthropic(min_cache_tokens=100) as fake, client_for(fake) as client:
        await client.messages.create(
            model=MODEL, max_tokens=50, system=cached_system(LONG_SYSTEM), messages=USER
        )
        changed = await client.messages.create(
            model=MODEL, max_tokens=50, system=cached_system(LONG_SYSTEM + "!"), messages=USER
        )
    assert changed.usage.cache_read_input_tokens == 0
    assert changed.usage.cache_creation_input_tokens


async def test_prompt_cache_ignores_short_prefix(fake_anthropic: FakeAnthropic) -> None:
    """A prefix below the minimum cacheable length is neither written nor read."""
    async with client_for(fake_anthropic) as client:
        for _ in range(2):
            message = await client.messages.create(
                model=MODEL, max_tokens=50, system=cached_system(LONG_SYSTEM), messages=USER
            )
            assert message.usage.cache_creation_input_tokens == 0
            assert message.usage.cache_read_input_tokens == 0
            assert message.usage.input_tokens > 200


async def test_prompt_cache_ttl_expiry() -> None:
    """A 5-minute entry expires after 5 minutes; a 1-hour entry survives that long."""
    clock = Clock()
    async with FakeAnthropic(min_cache_tokens=100, clock=clock) as fake, client_for(fake) as client:

        async def usage(ttl: str | None) -> anthropic.types.Usage:
            reply = await client.messages.create(
                model=MODEL, max_tokens=50, system=cached_system(LONG_SYSTEM, ttl), messages=USER
            )
            return reply.usage

        assert (await usage(None)).cache_creation_input_tokens
        clock.now += 299
        assert (await usage(None)).cache_read_input_tokens  # a hit also refreshes the TTL
        clock.now += 299
        assert (await usage(None)).cache_read_input_tokens
        clock.now += 301
        assert (await usage(None)).cache_read_input_tokens == 0
        fake.reset_cache()
        assert (await usage("1h")).cache_creation_input_tokens
        clock.now += 3000
        assert (await usage("1h")).cache_read_input_tokens


async def test_overloaded_then_success_is_retried(fake_anthropic: FakeAnthropic) -> None:
    """A 529 overloaded_error is retried by the SDK (honouring retry-after) and then succeeds."""
    fake_anthropic.script(error_reply("overloaded_error", retry_after=0.01), "Back again.")
    async with client_for(fake_anthropic, max_retries=2) as client:
        message = await client.messages.create(model=MODEL, max_tokens=50, messages=USER)
    assert message.content[0].type == "text"
    assert message.content[0].text == "Back again."
    assert len(fake_anthropic.requests) == 2


async def test_bad_request_is_not_retried(fake_anthropic: FakeAnthropic) -> None:
    """A 400 invalid_request_error raises BadRequestError after exactly one request."""
    fake_anthropic.script(error_reply("invalid_request_error", message="prompt is too long"))
    async with client_for(fake_anthropic, max_retries=2) as client:
        with pytest.raises(anthropic.BadRequestError, match="prompt is too long"):
            await client.messages.create(model=MODEL, max_tokens=50, messages=USER)
    assert len(fake_anthropic.requests) == 1


async def test_wrong_api_key_is_401() -> None:
    """A key other than the fake's configured one raises AuthenticationError."""
    async with FakeAnthropic(api_key="the-right-key") as fake, client_for(fake) as client:
        with pytest.raises(anthropic.AuthenticationError):
            await client.messages.create(model=MODEL, max_tokens=50, messages=USER)


async def test_delay_beyond_timeout_raises_timeout(fake_anthropic: FakeAnthropic) -> None:
    """A reply slower than the client's timeout raises APITimeoutError."""
    fake_anthropic.script(delay_reply(5.0))
    async with client_for(fake_anthropic, timeout=0.2) as client:
        with pytest.raises(anthropic.APITimeoutError):
            await client.messages.create(model=MODEL, max_tokens=50, messages=USER)


async def test_malformed_json_raises(fake_anthropic: FakeAnthropic) -> None:
    """A 200 whose body is not valid JSON surfaces as an SDK error, not a silent success."""
    fake_anthropic.script(malformed_reply())
    async with client_for(fake_anthropic) as client:
        with pytest.raises(json.JSONDecodeError):
            await client.messages.create(model=MODEL, max_tokens=50, messages=USER)


async def test_error_before_stream_starts(fake_anthropic: FakeAnthropic) -> None:
    """A scripted error on a streaming request is an HTTP error the SDK raises, not a stream."""
    fake_anthropic.script(error_reply("rate_limit_error", should_retry=False))
    async with client_for(fake_anthropic, max_retries=2) as client:
        with pytest.raises(anthropic.RateLimitError):
            async with client.messages.stream(model=MODEL, max_tokens=50, messages=USER) as s:
                await s.get_final_message()
    assert len(fake_anthropic.requests) == 1  # x-should-retry: false overrides the 429 retry


async def test_concurrent_requests(fake_anthropic: FakeAnthropic) -> None:
    """Many simultaneous requests are all answered (the server is threaded, backlog is large)."""
    async with client_for(fake_anthropic) as client:
        replies = await asyncio.gather(
            *(
                client.messages.create(
                    model=MODEL, max_tokens=50, messages=[{"role": "user", "content": f"#{i}"}]
                )
                for i in range(50)
            )
        )
    texts = {reply.content[0].text for reply in replies if reply.content[0].type == "text"}
    assert texts == {f"Echo: #{i}" for i in range(50)}


async def test_request_is_recorded(fake_anthropic: FakeAnthropic) -> None:
    """The recorded request has the SDK's auth header, path and JSON body."""
    async with client_for(fake_anthropic) as client:
        await client.messages.create(model=MODEL, max_tokens=77, messages=USER)
    [request] = fake_anthropic.requests
    assert request.path == "/v1/messages"
    auth = request.headers.get("authorization") or f"Bearer {request.headers.get('x-api-key')}"
    assert auth == "Bearer test-key"
    assert request.body == {"model": MODEL, "max_tokens": 77, "messages": USER}


def test_validation_and_auth_over_plain_http(fake_anthropic: FakeAnthropic) -> None:
    """Missing fields are a 400 invalid_request_error and a missing key is a 401, as in the API."""
    url = f"{fake_anthropic.base_url}/v1/messages"
    body = {"model": MODEL, "max_tokens": 10, "messages": USER}
    with httpx.Client() as http:
        for field in ("model", "max_tokens", "messages"):
            partial = {k: v for k, v in body.items() if k != field}
            response = http.post(url, json=partial, headers={"x-api-key": "k"})
            assert response.status_code == 400
            assert response.json()["error"]["type"] == "invalid_request_error"
            assert field in response.json()["error"]["message"]
        response = http.post(url, json=body)
        assert response.status_code == 401
        assert response.json() == {
            "type": "error",
            "error": {"type": "authentication_error", "message": "invalid x-api-key"},
        }
        assert http.post(url, json=body, headers={"x-api-key": "k"}).status_code == 200


async def test_base_url_from_environment(
    fake_anthropic: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY make a default-constructed client reach the fake."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_anthropic.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "env-key")
    fake_anthropic.script(text_reply("from the environment"))
    async with anthropic.AsyncAnthropic() as client:
        message = await client.messages.create(model=MODEL, max_tokens=50, messages=USER)
    assert message.content[0].type == "text"
    assert message.content[0].text == "from the environment"
    assert fake_anthropic.requests[0].headers.get("authorization") == "Bearer env-key"
