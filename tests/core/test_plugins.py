"""The plugin manager and the hook facade: loading, ordering, validation, async hooks."""

from __future__ import annotations

import types
from typing import Any

import click
import pytest
from click.testing import CliRunner

from taskra_core import hookimpl, hookspec
from taskra_core.cli import make_cli
from taskra_core.cli_support import CliState
from taskra_core.errors import PluginError, StartupError
from taskra_core.hooks import Hooks
from taskra_core.plugins import DEFAULT_PLUGINS, get_plugins, make_plugin_manager
from taskra_core.testing import make_test_settings, make_test_taskra


class Recorder:
    """A plugin that records lifecycle hooks, one async and one sync."""

    __name__ = "recorder"

    def __init__(self) -> None:
        self.events: list[str] = []

    @hookimpl
    async def startup(self, taskra: Any) -> None:
        assert taskra.started  # registries are built before startup fires
        self.events.append("startup")

    @hookimpl
    def shutdown(self) -> None:
        self.events.append("shutdown")


async def test_hook_startup(database_url: str) -> None:
    """startup fires once, awaited, even when startup() is called twice."""
    recorder = Recorder()
    taskra = make_test_taskra(database_url, plugins=[recorder])
    await taskra.startup()
    await taskra.startup()
    assert recorder.events == ["startup"]
    await taskra.shutdown()


async def test_hook_shutdown(database_url: str) -> None:
    """shutdown fires once on leaving `async with`, and a second shutdown is harmless."""
    recorder = Recorder()
    async with make_test_taskra(database_url, plugins=[recorder]) as taskra:
        assert recorder.events == ["startup"]
    await taskra.shutdown()
    assert recorder.events == ["startup", "shutdown"]


def test_hook_register_hookspecs() -> None:
    """A plugin can add hookspecs; implementations of them are then accepted and called."""
    specs = types.ModuleType("extra_specs")

    @hookspec
    def greet(name: str) -> Any:  # pragma: no cover - a spec has no body
        """A test hook."""

    specs.greet = greet  # type: ignore[attr-defined]

    class Adds:
        __name__ = "adds"

        @hookimpl
        def register_hookspecs(self, register: Any) -> None:
            register(specs)

    class Implements:
        __name__ = "implements"

        @hookimpl
        def greet(self, name: str) -> str:
            return f"hello {name}"

    pm = make_plugin_manager(load_entrypoints=False, plugins=[Adds(), Implements()])
    assert pm.hook.greet(name="Fell") == ["hello Fell"]
    with pytest.raises(PluginError, match="greet"):
        make_plugin_manager(load_entrypoints=False, plugins=[Implements()])


def test_hook_register_commands() -> None:
    """A plugin adds a command to the CLI; it sees the settings on the context."""

    class Commands:
        __name__ = "commands"

        @hookimpl
        def register_commands(self, cli: click.Group) -> None:
            @cli.command()
            @click.pass_obj
            def hello(state: CliState) -> None:
                click.echo(f"hello on port {state.settings.port}")

    pm = make_plugin_manager(load_entrypoints=False, plugins=[Commands()])
    settings = make_test_settings("sqlite+aiosqlite:///unused.db", port=8123)
    result = CliRunner().invoke(make_cli(pm), ["hello"], obj=CliState(settings, pm))
    assert result.exit_code == 0, result.output
    assert result.output == "hello on port 8123\n"
    # The module-level group is not mutated: another manager does not see the command.
    plain = make_cli(make_plugin_manager(load_entrypoints=False))
    assert "hello" not in plain.commands


def test_unknown_hook_implementation_is_rejected() -> None:
    """A misspelt hook name fails loudly at start-up instead of being ignored."""

    class Typo:
        __name__ = "typo"

        @hookimpl
        def startpu(self) -> None:  # pragma: no cover - never called
            pass

    with pytest.raises(PluginError, match="startpu"):
        make_plugin_manager(load_entrypoints=False, plugins=[Typo()])


def test_wrong_arguments_are_rejected() -> None:
    """An implementation asking for an argument the hook does not have is refused."""

    class Bad:
        __name__ = "bad"

        @hookimpl
        def startup(self, tasks: Any) -> None:  # pragma: no cover - never called
            pass

    with pytest.raises(PluginError, match="bad"):
        make_plugin_manager(load_entrypoints=False, plugins=[Bad()])


def test_entry_points_load_and_can_be_disabled() -> None:
    """The built-in shell plugin loads from its entry point; disabling it by name works."""
    names = {info.name for info in get_plugins(make_plugin_manager())}
    assert "shopify" in names
    assert set(DEFAULT_PLUGINS) <= names
    blocked = {info.name for info in get_plugins(make_plugin_manager(disabled=["shopify"]))}
    assert "shopify" not in blocked


def test_get_plugins_reports_hooks_and_versions() -> None:
    """Installed plugins report their distribution and version; defaults are marked."""
    by_name = {info.name: info for info in get_plugins(make_plugin_manager())}
    shell = by_name["shopify"]
    assert shell.distribution == "taskra"
    assert shell.version
    assert "register_commands" in shell.hooks
    default = by_name["taskra_core.default_plugins.jobs"]
    assert default.default
    assert default.hooks == ("job_retry_delay",)


async def test_single_owner_hooks_skip_none_from_async_implementations() -> None:
    """An async implementation returning None does not win a single-owner decision."""

    class Abstains:
        __name__ = "abstains"

        @hookimpl(tryfirst=True)
        async def job_retry_delay(self) -> None:
            return None

    class Answers:
        __name__ = "answers"

        @hookimpl
        def job_retry_delay(self) -> float:
            return 7.0

    pm = make_plugin_manager(load_entrypoints=False, plugins=[Abstains(), Answers()])
    taskra = make_test_taskra("sqlite+aiosqlite:///unused.db")
    assert await Hooks(pm).job_retry_delay(taskra, object(), ValueError()) == 7.0  # type: ignore[arg-type]


def test_sync_hooks_refuse_async_implementations() -> None:
    """A hook that must answer synchronously reports an async implementation clearly."""

    class AsyncRoutes:
        __name__ = "async-routes"

        @hookimpl
        async def register_routes(self) -> list[Any]:  # pragma: no cover - closed unawaited
            return []

    pm = make_plugin_manager(plugins=[AsyncRoutes()])
    with pytest.raises(StartupError, match="register_routes must not be async"):
        Hooks(pm).collect_sync("register_routes", taskra=None)
