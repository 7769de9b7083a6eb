"""Built-in mail: the ``mail.send`` job, and waiting as long as the provider asked when it
was rate limited."""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskra_core.errors import MailUnavailable
from taskra_core.hookspecs import hookimpl
from taskra_core.mail import MAIL_JOB, send_mail_job

if TYPE_CHECKING:
    from collections.abc import Callable

    from taskra_core.app import Taskra
    from taskra_core.jobs import Job


@hookimpl(trylast=True)
def register_jobs(register: Callable[..., None]) -> None:
    register(MAIL_JOB, send_mail_job)


@hookimpl(trylast=True)
def job_retry_delay(taskra: Taskra, job: Job, error: BaseException) -> float | None:
    if job.kind != MAIL_JOB or not isinstance(error, MailUnavailable):
        return None
    if error.retry_after is None:
        return None
    # A daily quota can ask for hours; never wait longer than any other job would.
    return min(error.retry_after, taskra.settings.job_backoff_max_seconds)
