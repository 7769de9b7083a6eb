"""Built-in retention: Taskra's policies, the ``retention.sweep`` job and its daily schedule.

Hooks are ``trylast``, so a plugin's policies run before the built-in ones (its rows may
refer to messages or customers the built-in sweep deletes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskra_core.hookspecs import hookimpl
from taskra_core.retention.builtin import register_builtin
from taskra_core.retention.schedule import (
    SWEEP_JOB,
    SWEEP_LEASE_SECONDS,
    ensure_scheduled,
    sweep_job,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from taskra_core.app import Taskra


@hookimpl(trylast=True)
def register_retention_policies(register: Callable[..., None]) -> None:
    register_builtin(register)


@hookimpl(trylast=True)
def register_jobs(register: Callable[..., None]) -> None:
    register(SWEEP_JOB, sweep_job, lease_seconds=SWEEP_LEASE_SECONDS)


@hookimpl(trylast=True)
async def startup(taskra: Taskra) -> None:
    if taskra.settings.retention_schedule:
        await ensure_scheduled(taskra)
