"""Helpers for testing Taskra and plugins built on it (public: plugin authors use these too)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from taskra_core.app import Taskra
from taskra_core.channels import Channel, DeliveryReceipt, Outbound
from taskra_core.clock import Clock
from taskra_core.drafting.reply_models import ReplyModel
from taskra_core.drafting.types import DraftRequest, ModelReply
from taskra_core.hookspecs import hookimpl
from taskra_core.models import JobRecord
from taskra_core.settings import Settings

# A fixed, obviously-fake key: tests must never depend on a real secret.
TEST_SECRET_KEY = base64.b64encode(b"taskra-test-key-0123456789abcdef").decode()


def make_test_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for tests: explicit values only, never the developer's environment."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "secret_key": TEST_SECRET_KEY,
        "worker_poll_seconds": 0.05,
        "job_backoff_base_seconds": 0.01,
        "job_backoff_max_seconds": 0.05,
        "worker_shutdown_grace_seconds": 5.0,
        # A test that wants the daily retention sweep queued turns this on.
        "retention_schedule": False,
    }
    values.update(overrides)
    return Settings.from_values(**values)


def make_test_taskra(
    database_url: str,
    *,
    plugins: Sequence[object] = (),
    load_entrypoints: bool = False,
    clock: Clock | None = None,
    **overrides: Any,
) -> Taskra:
    """A Taskra on ``database_url`` with only ``plugins`` plus the defaults (not started).

    Installed plugins are left out unless ``load_entrypoints`` is true, so a test sees exactly
    the behaviour it sets up.
    """
    from taskra_core.plugins import make_plugin_manager

    settings = make_test_settings(database_url, **overrides)
    pm = make_plugin_manager(
        load_entrypoints=load_entrypoints, plugins=plugins, disabled=settings.disable_plugins
    )
    return Taskra(settings, pm=pm, clock=clock)


async def due_jobs(taskra: Taskra, *, horizon: float = 0.0) -> int:
    """How many jobs are running, or queued and due within ``horizon`` seconds of now (by
    ``taskra.clock``). Zero means the queue has nothing to do: a job scheduled for later
    (like the daily retention sweep) does not count, and a job backing off between retries
    counts once ``horizon`` covers its delay."""
    until = taskra.clock.now() + timedelta(seconds=horizon)
    busy = (
        select(func.count())
        .select_from(JobRecord)
        .where(
            (col(JobRecord.state) == "running")
            | ((col(JobRecord.state) == "queued") & (col(JobRecord.run_after) <= until))
        )
    )
    async with taskra.db.session() as session:
        return int(await session.scalar(busy) or 0)


class MockReplyModel(ReplyModel):
    """A reply model for tests: instant, no network, and it records what it was asked.

    By default it answers with the first retrieved source, cited; pass ``replies`` (a
    ``ModelReply`` or a function of the request returning one) to script answers, used in
    order, the last one repeating.
    """

    name = "mock"

    def __init__(self, *replies: ModelReply | Callable[[DraftRequest], ModelReply]) -> None:
        self.replies = list(replies)
        self.requests: list[DraftRequest] = []

    async def draft(self, request: DraftRequest) -> ModelReply:
        self.requests.append(request)
        if self.replies:
            reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
            return reply(request) if callable(reply) else reply
        first = request.sources[0] if request.sources else None
        return ModelReply(
            text=f"Thanks for your message. {first.title if first else ''}".strip(),
            model=self.name,
            sources=(first.source_id,) if first else (),
            intent="product_question",
            language="en",
            confidence=0.9,
        )


class MockModelPlugin:
    """Registers ``model`` as reply model ``mock``; pair with ``reply_model="mock"``."""

    def __init__(self, model: ReplyModel) -> None:
        self.model = model
        self.__name__ = "mock-model"

    @hookimpl
    def register_reply_models(self, register: Callable[..., None]) -> None:
        register(self.model.name, lambda settings: self.model)


class FakeChannel(Channel):
    """A channel that records what it delivers instead of delivering it, and drops a repeat
    of an idempotency key as a real provider does."""

    def __init__(self, name: str = "email") -> None:
        self.name = name
        self.sent: list[Outbound] = []
        self._keys: set[str] = set()

    async def send(self, outbound: Outbound) -> DeliveryReceipt:
        if outbound.idempotency_key not in self._keys:
            self._keys.add(outbound.idempotency_key)
            self.sent.append(outbound)
        return DeliveryReceipt(channel_message_id=f"<{outbound.idempotency_key}@fake.test>")


class FakeChannelPlugin:
    """Registers ``channel`` under its name; pass it in ``make_test_taskra(plugins=[...])``."""

    def __init__(self, channel: FakeChannel) -> None:
        self.channel = channel
        self.__name__ = f"fake-channel-{channel.name}"

    @hookimpl
    def register_channels(self, register: Callable[..., None]) -> None:
        register(self.channel.name, lambda settings: self.channel)
