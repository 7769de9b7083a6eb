"""Hooks of the web shell. Added to the core's plugin manager by ``taskra_shopify.plugin``.

A plugin that implements these and must also work without the shell installed marks its
implementations ``@hookimpl(optionalhook=True)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskra_core.hookspecs import hookspec

if TYPE_CHECKING:
    from taskra_core.app import Taskra


@hookspec
def register_routes(taskra: Taskra) -> Any:
    """Contribute HTTP routes to the web app.

    Fires once while ``create_app(taskra)`` builds the app (synchronously: return the list,
    not an awaitable). Return a list of Starlette routes (``Route``, ``Mount``); a channel
    mounts its endpoints under ``/channels/<name>/``. Plugin routes are matched before the
    shell's own.
    """
