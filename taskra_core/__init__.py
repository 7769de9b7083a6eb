"""Taskra's framework-agnostic core: inbox, drafting, jobs, privacy, and the plugin system.

Plugins need only ``from taskra_core import hookimpl``; embedders use ``Taskra`` and
``Settings``. Importing this package loads no web framework.
"""

from taskra_core.app import Taskra
from taskra_core.errors import TaskraError
from taskra_core.hookspecs import hookimpl, hookspec
from taskra_core.settings import Settings

__all__ = ["Settings", "Taskra", "TaskraError", "hookimpl", "hookspec"]
