"""Privacy's default plugin: the jobs that carry out privacy requests, and the retention of
kept exports (deleted when they expire)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from taskra_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from taskra_core.retention.policy import SweepContext


@hookimpl(trylast=True)
def register_jobs(register: Callable[..., None]) -> None:
    from taskra_core.privacy.jobs import REQUEST_JOB, request_job
    from taskra_core.privacy.scrub import SCRUB_JOB, scrub_job

    register(REQUEST_JOB, request_job)
    register(SCRUB_JOB, scrub_job)


@hookimpl(trylast=True)
def register_retention_policies(register: Callable[..., None]) -> None:
    from taskra_core.privacy.export import EXPORT_TTL

    register(
        "privacy_exports",
        sweep_exports,
        period=EXPORT_TTL,
        description="Subject-data exports kept for the merchant to download, once expired.",
    )


async def sweep_exports(ctx: SweepContext) -> Any:
    """Delete exports past their expiry (``expires_at`` is ``created_at`` + the period)."""
    from taskra_core.models import PrivacyExport

    table = PrivacyExport.__table__  # type: ignore[attr-defined]
    return await ctx.delete(table, table.c.expires_at <= ctx.now)
