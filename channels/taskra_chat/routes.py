"""The chat channel's HTTP surface, under ``/proxy`` (the app proxy's target).

The storefront widget posts JSON to ``/apps/support/chat/...``; Shopify forwards it to
``/proxy/chat/...`` with its signed query. Every endpoint verifies that query before reading
anything, then reads a size-limited JSON body it does not trust:

- ``POST /proxy/chat/messages`` ``{"session"?, "text", "id"?, "email"?}``: a visitor's
  message (starts a session when ``session`` is absent; the answer then carries its token);
- ``POST /proxy/chat/poll`` ``{"session", "after", "status"?, "wait"?}``: messages newer
  than ``after`` and who is answering; with ``wait`` held open until something changes;
- ``POST /proxy/chat/email`` ``{"session", "email"}``: an anonymous visitor's email.

Errors are Taskra's own (``ProxySignatureInvalid``, ``ChatRateLimited`` with
``retry_after``, ``ChatRequestTooLarge``, ...): the web shell turns them into statuses and
its ``{"error": {"type", "message"}}`` shape, as for every route. 429 messages are written
for the visitor.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from taskra_chat.proxy import ProxyCaller, verify_proxy_query
from taskra_chat.service import Chat
from taskra_core import errors
from taskra_core.bodies import read_bounded

if TYPE_CHECKING:
    from taskra_core.app import Taskra

T = TypeVar("T", bound=BaseModel)
NO_STORE = {"Cache-Control": "no-store"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class MessageBody(_Strict):
    session: str | None = Field(None, max_length=100)
    text: str = Field(max_length=100_000)
    id: str | None = Field(None, max_length=64)
    email: str | None = Field(None, max_length=320)


class PollBody(_Strict):
    session: str = Field(max_length=100)
    after: int = Field(0, ge=0)
    status: str | None = Field(None, max_length=16)
    wait: bool = False


class EmailBody(_Strict):
    session: str = Field(max_length=100)
    email: str = Field(max_length=320)


def chat_routes(taskra: Taskra) -> list[BaseRoute]:
    """The ``/proxy/chat`` routes serving the storefront widget."""
    chat = Chat(taskra)

    async def messages(request: Request) -> Response:
        caller, body = await _open(request, taskra, MessageBody)
        posted = await chat.post(
            caller,
            body.session,
            body.text,
            client_id=body.id,
            email=body.email,
            client=_client(request),
        )
        answer: dict[str, Any] = {"message": posted.message.as_dict()}
        if posted.token is not None:
            answer["session"] = posted.token
        return JSONResponse(answer, status_code=201, headers=NO_STORE)

    async def poll(request: Request) -> Response:
        caller, body = await _open(request, taskra, PollBody)
        if body.wait:
            found = await chat.wait(
                caller, body.session, body.after, body.status, request.is_disconnected
            )
        else:
            found = await chat.read(caller, body.session, body.after)
        return JSONResponse(found.as_dict(), headers=NO_STORE)

    async def email(request: Request) -> Response:
        caller, body = await _open(request, taskra, EmailBody)
        found = await chat.give_email(caller, body.session, body.email)
        return JSONResponse(found.as_dict(), headers=NO_STORE)

    return [
        Mount(
            "/proxy/chat",
            routes=[
                Route("/messages", messages, methods=["POST"]),
                Route("/poll", poll, methods=["POST"]),
                Route("/email", email, methods=["POST"]),
            ],
        )
    ]


async def _open(request: Request, taskra: Taskra, model: type[T]) -> tuple[ProxyCaller, T]:
    """Verify the proxy signature, then read and validate the (unsigned) JSON body."""
    caller = verify_proxy_query(request.url.query, taskra.settings)
    raw = await read_bounded(
        request.stream(),
        taskra.settings.chat_max_body_bytes,
        lambda _: errors.ChatRequestTooLarge("The message is too large to send."),
        request.headers.get("content-length"),
    )
    try:
        data = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        raise errors.InvalidInput("The request body is not JSON.") from None
    if not isinstance(data, dict):
        raise errors.InvalidInput("The request body must be a JSON object.")
    try:
        return caller, model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise errors.InvalidInput(f"{where}: {first['msg']}.") from None


def _client(request: Request) -> str | None:
    # Through the app proxy the connection comes from Shopify; the visitor's address is the
    # first X-Forwarded-For entry. A client can put anything there, so it only adds a limit
    # (per client) to the per-visitor and per-store ones, and is stored only as a keyed hash.
    forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
    if forwarded:
        return forwarded[:64]
    return request.client.host if request.client is not None else None
