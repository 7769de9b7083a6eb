"""Building the plugin manager: installed plugins first, Taskra's own defaults last.

There is no global plugin manager. Each :class:`~taskra_core.app.Taskra` (and each test) gets
its own from :func:`make_plugin_manager`.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pluggy

from taskra_core import hookspecs
from taskra_core.errors import PluginError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "taskra"

# Taskra's own behaviour, written as plugins whose hooks are marked trylast so that an
# installed plugin can replace any of it.
DEFAULT_PLUGINS: tuple[str, ...] = (
    # pluggy calls trylast implementations in the order they were registered: the mail
    # plugin's job_retry_delay (Retry-After of rate-limited mail) comes before the generic
    # backoff in jobs, which always answers.
    "taskra_core.default_plugins.mail",
    "taskra_core.default_plugins.jobs",
    "taskra_core.default_plugins.orders",
    "taskra_core.default_plugins.drafting",
    "taskra_core.default_plugins.billing",
    "taskra_core.default_plugins.retention",
    "taskra_core.privacy.plugin",
)


@dataclass(frozen=True)
class PluginInfo:
    """What ``taskra plugins`` reports about one loaded plugin."""

    name: str
    hooks: tuple[str, ...]
    version: str | None
    distribution: str | None
    default: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "hooks": list(self.hooks),
            "version": self.version,
            "distribution": self.distribution,
            "default": self.default,
        }


def make_plugin_manager(
    *,
    load_entrypoints: bool = True,
    disabled: Iterable[str] = (),
    plugins: Sequence[object] = (),
    trace: bool = False,
) -> pluggy.PluginManager:
    """Return a new plugin manager with Taskra's hookspecs and plugins registered.

    Order: ``plugins`` passed in (tests and embedders), then entry points of group
    ``taskra``, then :data:`DEFAULT_PLUGINS`. Names in ``disabled`` are never loaded. Any
    implementation of a hook that no spec declares is rejected, so a typo in a hook name
    fails loudly at start-up instead of being silently ignored.
    """
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    for name in disabled:
        pm.set_blocked(name)
    for plugin in plugins:
        _register(pm, plugin, getattr(plugin, "__name__", None))
    if load_entrypoints:
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:
            raise PluginError(
                f"A plugin failed to load: {exc!r}. Fix or uninstall it, or block it with "
                "TASKRA_DISABLE_PLUGINS=<name>."
            ) from exc
    for module_name in DEFAULT_PLUGINS:
        if not pm.is_blocked(module_name):
            _register(pm, importlib.import_module(module_name), module_name)

    def add(module: ModuleType) -> None:
        pm.add_hookspecs(module)

    # Sync on purpose: hookspecs must exist before any hook is awaited.
    for result in pm.hook.register_hookspecs(register=add):
        if result is not None:
            raise PluginError("register_hookspecs implementations must be synchronous.")
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(
            f"{exc}. The plugin implements a hook Taskra does not have; check the name "
            "against docs/plugin_hooks.md."
        ) from exc
    if trace:
        _trace(pm)
    return pm


def _register(pm: pluggy.PluginManager, plugin: object, name: str | None) -> None:
    try:
        pm.register(plugin, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise PluginError(f"Cannot register plugin {name!r}: {exc}") from exc


def _trace(pm: pluggy.PluginManager) -> None:
    def before(hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
        log.debug("hook %s -> %s", hook_name, [impl.plugin_name for impl in impls])

    def after(
        outcome: pluggy.Result[Any],
        hook_name: str,
        impls: Sequence[pluggy.HookImpl],
        kwargs: Mapping[str, Any],
    ) -> None:
        # Types only: results may carry customer data, which must never reach the logs.
        result = outcome.get_result() if outcome.exception is None else outcome.exception
        log.debug("hook %s <- %s", hook_name, type(result).__name__)

    pm.add_hookcall_monitoring(before, after)


def get_plugins(pm: pluggy.PluginManager) -> list[PluginInfo]:
    """Describe every registered plugin: name, hooks it implements, version if installed."""
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    infos = []
    for plugin in pm.get_plugins():
        name = pm.get_name(plugin) or repr(plugin)
        hooks = sorted({caller.name for caller in pm.get_hookcallers(plugin) or []})
        dist = dists.get(id(plugin))
        infos.append(
            PluginInfo(
                name=name,
                hooks=tuple(hooks),
                version=dist.version if dist is not None else None,
                distribution=dist.metadata["Name"] if dist is not None else None,
                default=name in DEFAULT_PLUGINS,
            )
        )
    return sorted(infos, key=lambda info: (info.default, info.name))
