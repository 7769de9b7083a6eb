"""How an API endpoint is declared: one decorator gives routing, authentication, body
validation, error mapping and the endpoint's OpenAPI entry, so the document cannot drift
from the code.

::

    @api.post("/conversations/{conversation_id:int}/notes", body=NoteBody, summary="Add a note")
    async def add_note(call: Call, body: NoteBody) -> dict[str, Any]: ...
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from taskra_core.app import Taskra
from taskra_core.errors import InvalidInput, NotFound, TaskraError
from taskra_shopify.api.auth import SESSION_COOKIE, Principal, authenticate
from taskra_shopify.http_errors import error_response, json_error

MAX_BODY_BYTES = 256 * 1024
# Ids are 64-bit in the database: a larger number can name no record (and would overflow).
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class Call:
    """What a handler receives: the core, who is calling (for which store), the request."""

    taskra: Taskra
    principal: Principal
    request: Request

    @property
    def store_id(self) -> int:
        return self.principal.store_id

    def query(self, name: str) -> str | None:
        value = self.request.query_params.get(name)
        return value if value not in (None, "") else None

    def int_query(self, name: str, default: int | None = None) -> int | None:
        value = self.query(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise InvalidInput(f"Query parameter {name!r} must be a whole number.") from None
        if abs(number) > MAX_ID:
            raise InvalidInput(f"Query parameter {name!r} is out of range.")
        return number


Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    body: type[BaseModel] | None
    query: tuple[tuple[str, str], ...]  # (name, description)
    status: int
    tag: str


@dataclass
class Api:
    """A set of endpoints under one prefix; ``routes()`` builds the Starlette routes."""

    prefix: str
    endpoints: list[Endpoint] = field(default_factory=list)

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        body: type[BaseModel] | None = None,
        query: tuple[tuple[str, str], ...] = (),
        status: int = 200,
        tag: str = "",
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.endpoints.append(
                Endpoint(method, path, handler, summary, body, query, status, tag)
            )
            return handler

        return register

    def get(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **kw)

    def routes(self) -> list[Route]:
        return [
            Route(self.prefix + e.path, _asgi(e), methods=[e.method], name=e.handler.__name__)
            for e in self.endpoints
        ]


def _asgi(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        taskra: Taskra = request.app.state.taskra
        try:
            principal = await authenticate(request, taskra)
            if any(isinstance(v, int) and v > MAX_ID for v in request.path_params.values()):
                raise NotFound("No such record.")
            call = Call(taskra, principal, request)
            args: list[Any] = [call]
            if endpoint.body is not None:
                args.append(await _body(request, endpoint.body))
            result = await endpoint.handler(*args, **request.path_params)
        except TaskraError as exc:
            response = error_response(exc)
            if response.status_code == 401 and not request.cookies.get(SESSION_COOKIE):
                # App Bridge fetches a fresh session token and retries on this header; a
                # standalone (cookie) session has nothing to retry with.
                response.headers["X-Shopify-Retry-Invalid-Session-Request"] = "1"
            return response
        if result is None:
            return Response(status_code=204)
        if isinstance(result, Response):  # a stream (events), built by the handler
            return result
        return JSONResponse(result, status_code=endpoint.status)

    run.__name__ = endpoint.handler.__name__
    return run


async def _body(request: Request, model: type[BaseModel]) -> BaseModel:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidInput(f"The request body is over {MAX_BODY_BYTES // 1024} KiB.")
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise InvalidInput("The request body is not valid JSON.") from None
    try:
        # JSON may escape lone surrogates ("\\ud800"), which no database can store as text.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("The request body has text that is not valid Unicode.") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        raise InvalidInput(f"Invalid request body: {problems}.") from None


def openapi_path(path: str) -> str:
    """``/drafts/{draft_id:int}`` -> ``/drafts/{draft_id}``."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


__all__ = ["Api", "Call", "Endpoint", "json_error", "openapi_path"]
