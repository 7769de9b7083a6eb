"""The web shell as a plugin: adds its hookspecs and the ``taskra serve`` command.

Registered through the ``taskra`` entry point group like any third-party plugin. Importing
this module imports neither Starlette nor uvicorn; ``serve`` does, when it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import click

from taskra_core.hookspecs import hookimpl


@hookimpl
def register_hookspecs(register: Callable[[ModuleType], None]) -> None:
    from taskra_shopify import hookspecs

    register(hookspecs)


@hookimpl
def register_commands(cli: click.Group) -> None:
    from taskra_shopify.serve import serve

    cli.add_command(serve)
