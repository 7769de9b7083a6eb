"""``Taskra``: the core object. Settings + database + hooks, with no web framework.

::

    async with Taskra(Settings.from_env()) as taskra:
        async with taskra.db.transaction() as session:
            await taskra.jobs.enqueue(session, "ping", {"n": 1})
        await Worker(taskra).run_until_idle()

The web shell, the CLI and embedders all build one ``Taskra`` and pass it down; nothing in
the core reaches for a global.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING

import pluggy

from taskra_core.accounts import Accounts
from taskra_core.billing.service import Billing
from taskra_core.channels import Channels
from taskra_core.clock import Clock
from taskra_core.crypto import TokenCipher
from taskra_core.db import Database, head_revision
from taskra_core.drafting.pricing import PriceTable
from taskra_core.drafting.reply_models import ReplyModels
from taskra_core.drafting.service import Drafting
from taskra_core.errors import DatabaseError
from taskra_core.hooks import Hooks
from taskra_core.inbox import Inbox
from taskra_core.jobs import JobQueue, JobRegistry
from taskra_core.knowledge.service import Knowledge
from taskra_core.mail import Mailer, make_mailer
from taskra_core.plugins import make_plugin_manager
from taskra_core.privacy.service import Privacy
from taskra_core.retention.service import Retention
from taskra_core.settings import Settings
from taskra_core.team import Team

if TYPE_CHECKING:
    from taskra_core.metrics import Metrics

log = logging.getLogger(__name__)


class Taskra:
    """The core of Taskra, usable from plain Python (``async with Taskra(settings)``).

    :param settings: the frozen settings, read once by the caller.
    :param pm: a plugin manager; by default one is built from installed plugins.
    :param plugins: extra plugin objects registered before installed ones (tests, embedders).
    :param db: a database; by default one for ``settings.database_url``.
    :param clock: the clock; by default the wall clock, anchored at ``TASKRA_NOW`` if set.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        pm: pluggy.PluginManager | None = None,
        plugins: Sequence[object] = (),
        db: Database | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or Clock(settings.now)
        self.pm = pm or make_plugin_manager(
            disabled=settings.disable_plugins, plugins=plugins, trace=settings.trace_plugins
        )
        self.hooks = Hooks(self.pm)
        self.db = db or Database.from_url(settings.database_url)  # connects lazily
        self.jobs = JobQueue(self.db, self.clock, settings)
        self.job_handlers = JobRegistry()
        self.accounts = Accounts(self.db, self.clock)
        self.team = Team(self)
        self.inbox = Inbox(self)
        self.knowledge = Knowledge(self)
        self.reply_models = ReplyModels(settings)
        self.channels = Channels(settings)
        self.prices = PriceTable(settings)
        self.drafting = Drafting(self)
        self.billing = Billing(self)
        self.privacy = Privacy(self)
        self.retention = Retention(self)
        self._started = False

    @cached_property
    def cipher(self) -> TokenCipher:
        """The token cipher; raises ConfigurationError if ``TASKRA_SECRET_KEY`` is unset."""
        return TokenCipher.from_settings(self.settings)

    @cached_property
    def mailer(self) -> Mailer:
        """Sends Taskra's own emails: Resend when ``RESEND_API_KEY`` is set, else the outbox.
        Built on first use, so a Taskra that never sends mail never loads the SDK."""
        return make_mailer(self.settings)

    @cached_property
    def metrics(self) -> Metrics:
        """This Taskra's metrics (its own Prometheus registry), built on first use."""
        from taskra_core.metrics import Metrics

        return Metrics(self)

    @property
    def started(self) -> bool:
        return self._started

    async def startup(self) -> None:
        """Migrate (if enabled), build registries from plugins, fire ``startup``. Idempotent."""
        if self._started:
            return
        if self.settings.auto_migrate:
            await self.db.upgrade()
        else:
            await self.check_schema()
        await self.hooks.register_jobs(self.job_handlers.register)
        await self.hooks.register_reply_models(self.reply_models.register)
        await self.hooks.register_channels(self.channels.register)
        await self.hooks.register_billing_providers(self.billing.providers.register)
        await self.hooks.register_retention_policies(self.retention.policies.register)
        self._started = True
        await self.hooks.startup(self)
        log.info("taskra started", extra={"database": self.db.dialect})

    async def shutdown(self) -> None:
        """Fire ``shutdown`` and close the database. Safe to call more than once."""
        if self._started:
            self._started = False
            await self.hooks.shutdown(self)
            await self.reply_models.aclose()
            await self.channels.aclose()
            await self.billing.providers.aclose()
            if "mailer" in self.__dict__:  # only if it was ever built
                await self.mailer.aclose()
        await self.db.dispose()

    async def check_schema(self) -> None:
        """Raise :class:`DatabaseError` unless the database is at the newest migration."""
        await self.db.ping()
        current, head = await self.db.current_revision(), head_revision()
        if current != head:
            raise DatabaseError(
                f"The database schema is at {current or 'nothing'} but this Taskra needs {head}; "
                "run `taskra db upgrade` (or set TASKRA_AUTO_MIGRATE=1)."
            )

    async def __aenter__(self) -> Taskra:
        await self.startup()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()
