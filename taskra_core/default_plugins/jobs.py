"""Default retry policy for durable jobs: exponential backoff with jitter."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from taskra_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from taskra_core.app import Taskra
    from taskra_core.jobs import Job


@hookimpl(trylast=True)
def job_retry_delay(taskra: Taskra, job: Job) -> float:
    # "Equal jitter": at least half the exponential delay, so retries back off for sure,
    # plus a random half, so jobs that failed together do not retry together.
    settings = taskra.settings
    ceiling: float = min(
        settings.job_backoff_max_seconds,
        settings.job_backoff_base_seconds * 2 ** max(job.attempts - 1, 0),
    )
    return ceiling / 2 + random.uniform(0, ceiling / 2)
