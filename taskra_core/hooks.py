"""The typed async facade over the plugin manager: the only caller of ``pm.hook.*``.

Services depend on :class:`Hooks`, never on pluggy. Each hook gets one typed method here;
implementations may return plain values or awaitables and the facade awaits them in order.
Single-owner hooks walk the implementations themselves (pluggy's ``firstresult`` would stop at
the first coroutine, since a coroutine is never ``None``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from taskra_core.errors import StartupError

if TYPE_CHECKING:
    import click
    from sqlalchemy.ext.asyncio import AsyncSession

    from taskra_core.app import Taskra
    from taskra_core.drafting.pipeline import CheckContext
    from taskra_core.drafting.types import ModelReply
    from taskra_core.jobs import Job
    from taskra_core.models import Customer, Draft, Message, Store


async def await_me_maybe(value: Any) -> Any:
    """Return ``value``, awaiting it first if it is awaitable."""
    if inspect.isawaitable(value):
        return await value
    return value


class Hooks:
    """One typed method per hook. See ``docs/plugin_hooks.md`` for what each one means."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm

    # --- machinery -----------------------------------------------------------------------

    async def _collect(self, hook: str, /, **kwargs: Any) -> list[Any]:
        caller = getattr(self.pm.hook, hook)
        results = caller(**kwargs)  # every implementation has been called; awaiting follows
        collected: list[Any] = []
        try:
            for result in results:
                collected.append(await await_me_maybe(result))
        except BaseException:
            # One implementation raised: close the coroutines of the later ones, which
            # would otherwise be garbage collected un-awaited (a RuntimeWarning).
            for pending in results[len(collected) + 1 :]:
                if inspect.iscoroutine(pending):
                    pending.close()
            raise
        return collected

    async def _first(self, hook: str, /, **kwargs: Any) -> Any:
        caller: pluggy.HookCaller = getattr(self.pm.hook, hook)
        # get_hookimpls() lists in ascending priority; pluggy calls from the end.
        for impl in reversed(caller.get_hookimpls()):
            if impl.hookwrapper or impl.wrapper:
                continue
            args = {arg: kwargs[arg] for arg in impl.argnames}
            result = await await_me_maybe(impl.function(**args))
            if result is not None:
                return result
        return None

    # --- CLI -----------------------------------------------------------------------------

    def register_commands(self, cli: click.Group) -> None:
        # Sync: click builds its command tree before any event loop exists.
        self.pm.hook.register_commands(cli=cli)

    # --- lifecycle -----------------------------------------------------------------------

    async def startup(self, taskra: Taskra) -> None:
        await self._collect("startup", taskra=taskra)

    async def shutdown(self, taskra: Taskra) -> None:
        await self._collect("shutdown", taskra=taskra)

    # --- inbox and store data ------------------------------------------------------------

    async def message_received(self, taskra: Taskra, message: Message) -> None:
        await self._collect("message_received", taskra=taskra, message=message)

    async def find_orders(
        self, taskra: Taskra, store: Store, *, email: str | None = None, name: str | None = None
    ) -> list[dict[str, Any]]:
        """Orders from every source, de-duplicated by name; the first source wins.

        Raises :class:`~taskra_core.errors.OrdersUnavailable` when a source could not answer:
        answering from the others alone (an older imported copy) could state a stale status.
        """
        merged: dict[str, dict[str, Any]] = {}
        for orders in await self._collect(
            "find_orders", taskra=taskra, store=store, email=email, name=name
        ):
            for order in orders or []:
                merged.setdefault(str(order.get("name")), order)
        return list(merged.values())

    # --- privacy -------------------------------------------------------------------------

    async def export_subject_data(
        self, taskra: Taskra, session: AsyncSession, store: Store, customer: Customer
    ) -> dict[str, Any]:
        """Every plugin's export sections, merged by name; the first plugin keeps a name."""
        sections: dict[str, Any] = {}
        for result in await self._collect(
            "export_subject_data", taskra=taskra, session=session, store=store, customer=customer
        ):
            for name, value in (result or {}).items():
                sections.setdefault(str(name), value)
        return sections

    async def erase_subject_data(
        self, taskra: Taskra, session: AsyncSession, store: Store, customer: Customer | None
    ) -> list[str]:
        """Labels of what each plugin erased, in plugin order."""
        results = await self._collect(
            "erase_subject_data", taskra=taskra, session=session, store=store, customer=customer
        )
        return [str(result) for result in results if result]

    # --- drafting and replies -------------------------------------------------------------

    async def register_reply_models(self, register: Callable[..., None]) -> None:
        await self._collect("register_reply_models", register=register)

    async def register_channels(self, register: Callable[..., None]) -> None:
        await self._collect("register_channels", register=register)

    async def check_draft(
        self, taskra: Taskra, draft: ModelReply, context: CheckContext
    ) -> list[Any]:
        """Every implementation's reasons, flattened, in plugin order."""
        reasons: list[Any] = []
        for result in await self._collect(
            "check_draft", taskra=taskra, draft=draft, context=context
        ):
            if result:
                reasons.extend(result if isinstance(result, list | tuple) else [result])
        return reasons

    async def draft_created(self, taskra: Taskra, draft: Draft) -> None:
        await self._collect("draft_created", taskra=taskra, draft=draft)

    async def reply_sent(self, taskra: Taskra, message: Message) -> None:
        await self._collect("reply_sent", taskra=taskra, message=message)

    # --- billing -------------------------------------------------------------------------

    async def register_billing_providers(self, register: Callable[..., None]) -> None:
        await self._collect("register_billing_providers", register=register)

    # --- retention -----------------------------------------------------------------------

    async def register_retention_policies(self, register: Callable[..., None]) -> None:
        await self._collect("register_retention_policies", register=register)

    # --- jobs ----------------------------------------------------------------------------

    async def register_jobs(self, register: Callable[..., None]) -> None:
        await self._collect("register_jobs", register=register)

    async def job_retry_delay(self, taskra: Taskra, job: Job, error: BaseException) -> float:
        delay = await self._first("job_retry_delay", taskra=taskra, job=job, error=error)
        if delay is None:  # only when every implementation, the default included, passed
            return taskra.settings.job_backoff_base_seconds
        return float(delay)

    def template_dirs(self) -> list[Path]:
        dirs: list[Path] = []
        for contributed in self.collect_sync("template_dirs"):
            dirs.extend(Path(entry) for entry in contributed)
        return dirs

    # --- generic access for shell hooks --------------------------------------------------

    async def collect(self, hook: str, /, **kwargs: Any) -> list[Any]:
        """Call a collect hook added by another hookspec module (e.g. the web shell's).

        Extensions of the facade (``taskra_shopify.hooks``) go through this method, so this
        module stays the only place that touches ``pm.hook``.
        """
        return await self._collect(hook, **kwargs)

    def ensure_hookspecs(self, module: ModuleType) -> None:
        """Add ``module``'s hookspecs unless they are already there (a host adding its own)."""
        specs = [name for name in vars(module) if hasattr(getattr(module, name), "taskra_spec")]
        if not all(hasattr(self.pm.hook, name) for name in specs):
            self.pm.add_hookspecs(module)

    def collect_sync(self, hook: str, /, **kwargs: Any) -> list[Any]:
        """Call a collect hook whose implementations must answer synchronously."""
        results = getattr(self.pm.hook, hook)(**kwargs)
        for result in results:
            if inspect.isawaitable(result):
                if inspect.iscoroutine(result):
                    result.close()
                raise StartupError(f"Implementations of {hook} must not be async.")
        return list(results)
