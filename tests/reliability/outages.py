"""What the outage tests (``test_outage_*.py``) share: the server under test with patient job
limits, the shape of a real draft at the fake AI provider, waiting for a condition or an
outage phase, emails as load items, and counts read from the database.

Outages are long compared with the jobs' backoff, so the tests raise the attempt limits
(``TASKRA_JOB_MAX_ATTEMPTS``, ``TASKRA_DRAFT_MAX_ATTEMPTS``) above the number of failures
the fakes will give: however those failures fall on the jobs, none can run out of attempts,
so a dead job means something else went wrong.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from taskra_core.app import Taskra
from taskra_core.models import (
    Draft,
    JobRecord,
    Message,
)
from tests.fakes.anthropic import search_then_submit
from tests.fakes.server import Outage
from tests.reliability.conftest import DOMAIN
from tests.reliability.processes import Server

# More attempts than any outage below can fail (see the module docstring).
PATIENT = {"TASKRA_JOB_MAX_ATTEMPTS": "100", "TASKRA_DRAFT_MAX_ATTEMPTS": "100"}
# Jobs due this soon are retrying (backoff is at most 1 s in the tests' environment), not
# scheduled for later: waiting for the jobs to settle waits for them too.
RETRYING = 30.0
TROUSERS = "Hello, do the Dunmail trousers come in a shorter leg?"
A_PERSON = "I want to speak to a real person please, not a bot."


# One knowledge search, then a submitted reply: the shape of a real draft.
answer = search_then_submit("trousers leg length")


# --- helpers ---------------------------------------------------------------------------------


def outage_server(env: Mapping[str, str], tmp_path: Path, service: Mapping[str, str]) -> Server:
    """``taskra serve`` for an outage test, not started yet: the suite's environment ``env``,
    the patient attempt limits (:data:`PATIENT`), then ``service``'s variables (the faked
    service's address and keys; they win over both), logging to ``tmp_path/serve.log``."""
    return Server({**env, **PATIENT, **service}, tmp_path / "serve.log")


async def until(
    check: Callable[[], bool | Awaitable[bool]], what: str, limit: float = 30.0
) -> None:
    """Wait until ``check()`` is true (polling), or fail naming ``what`` was awaited."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise TimeoutError(f"not within {limit} s: {what}")
        await asyncio.sleep(0.1)


async def phase(outage: Outage[Any], *failures: Any, requests: int, limit: float = 30) -> None:
    """The next phase of ``outage``: answer with ``failures`` until ``requests`` more requests
    were answered so (the phase was really seen), then return with the phase still on."""
    before = len(outage.served)
    outage.begin(*failures)
    await until(
        lambda: len(outage.served) - before >= requests,
        f"{requests} requests during the outage phase {failures}",
        limit,
    )


def raw_from(sender: str, text: str, subject: str) -> tuple[str, bytes, dict[str, str]]:
    """An email to the store (raw MIME, signed when sent) as a :class:`Load` item."""
    message_id = f"<outage-{uuid.uuid4().hex}@mail.example.com>"
    raw = (
        f"From: {sender}\r\nTo: fellandford@{DOMAIN}\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id}\r\n\r\n{text}\r\n"
    ).encode()
    return message_id, raw, {}


def raw_email(n: int, text: str) -> tuple[str, bytes, dict[str, str]]:
    """Customer ``n``'s email: each customer has an address of their own."""
    return raw_from(f"Customer {n} <customer{n}@example.com>", f"{text} ({n})", f"Question {n}")


async def drafts(core: Taskra) -> list[Draft]:
    async with core.db.session() as session:
        return list(await session.scalars(select(Draft).order_by(col(Draft.id))))


async def at_least(rows: Awaitable[list[Any]], n: int) -> bool:
    return len(await rows) >= n


async def count(core: Taskra, query: Any) -> int:
    async with core.db.session() as session:
        return int((await session.execute(query)).scalar() or 0)


def inbound() -> Any:
    return select(func.count()).select_from(Message).where(col(Message.direction) == "inbound")


def outbound() -> Any:
    return select(func.count()).select_from(Message).where(col(Message.direction) == "outbound")


async def jobs_of(core: Taskra, kind: str) -> list[JobRecord]:
    async with core.db.session() as session:
        return list(await session.scalars(select(JobRecord).where(col(JobRecord.kind) == kind)))
