"""``GET /api/v1/events``: live updates for open pages, as server-sent events.

The page reads the stream with ``fetch`` rather than ``EventSource``, because only
``fetch`` can send the embedded session token (``Authorization: Bearer``); a page signed in
by cookie works the same way. Each change is one event::

    id: 41.17.1764237000000000
    event: change
    data: {"conversations": [12, 15]}

The ``id`` is the change cursor: a page reconnects with ``?cursor=`` (or the standard
``Last-Event-ID`` header) and misses nothing in between. A stream ends after
``TASKRA_EVENTS_STREAM_SECONDS``; the page then reconnects, which re-checks the session.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from starlette.responses import StreamingResponse

from taskra_core.errors import TaskraError
from taskra_core.inbox.changes import Cursor
from taskra_shopify.api.endpoint import Call
from taskra_shopify.api.v1 import api

HEARTBEAT_SECONDS = 15.0
# How long the browser waits before reconnecting a stream that broke.
RECONNECT_MS = 2000


@api.get(
    "/events",
    summary="Live updates: a text/event-stream of 'change' events naming conversations",
    tag="live",
    query=(("cursor", "the id of the last event seen; omit to start from now"),),
)
async def events(call: Call) -> StreamingResponse:
    taskra, store_id = call.taskra, call.store_id
    raw = call.query("cursor") or call.request.headers.get("last-event-id")
    cursor = Cursor.parse(raw) if raw else None
    # The first read happens before the stream starts, so a bad cursor or a database outage
    # is an error response, not a stream that breaks after its headers went out.
    first = await taskra.inbox.changes_since(store_id, cursor)
    settings = taskra.settings

    async def stream() -> AsyncIterator[str]:
        position = first.cursor
        yield f"retry: {RECONNECT_MS}\nid: {position}\nevent: ready\ndata: {{}}\n\n"
        if not first.empty:
            yield _change(first.cursor, first.conversation_ids)
        started = last_sent = time.monotonic()
        while time.monotonic() - started < settings.events_stream_seconds:
            await asyncio.sleep(settings.events_poll_seconds)
            try:
                changes = await taskra.inbox.changes_since(store_id, position)
            except TaskraError:
                return  # the page reconnects and gets a proper error answer if it persists
            if not changes.empty:
                position = changes.cursor
                last_sent = time.monotonic()
                yield _change(changes.cursor, changes.conversation_ids)
            elif time.monotonic() - last_sent >= HEARTBEAT_SECONDS:
                last_sent = time.monotonic()
                yield ": keep-alive\n\n"

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


def _change(cursor: Cursor, conversation_ids: list[int]) -> str:
    data = json.dumps({"conversations": conversation_ids})
    return f"id: {cursor}\nevent: change\ndata: {data}\n\n"
