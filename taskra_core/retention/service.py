"""Running the retention policies: ``await taskra.retention.run(dry_run=...)``.

::

    report = await taskra.retention.run(dry_run=True)   # counts only
    for result in report.results:
        print(result.name, result.counts)

One policy failing does not stop the others; its error is in the report (masked: no
personal data) and :attr:`RetentionReport.ok` is false, so the daily job retries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from taskra_core.errors import InvalidInput
from taskra_core.logs import mask_text
from taskra_core.retention.policy import RetentionPolicies, SweepContext

if TYPE_CHECKING:
    from taskra_core.app import Taskra

log = logging.getLogger(__name__)

# Called with (policy name, rows deleted so far by it) after every batch; may be async.
RunProgress = Callable[[str, int], Any]


@dataclass(frozen=True)
class PolicyResult:
    """What one policy deleted (or, in a dry run, would delete), per table."""

    name: str
    description: str
    period: timedelta
    cutoff: datetime
    counts: dict[str, int]
    seconds: float
    error: str | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "period_days": self.period / timedelta(days=1),
            "cutoff": self.cutoff.isoformat(),
            "counts": dict(self.counts),
            "total": self.total,
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }


@dataclass(frozen=True)
class RetentionReport:
    """The outcome of one run of the policies."""

    dry_run: bool
    started_at: datetime
    results: tuple[PolicyResult, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(result.error is None for result in self.results)

    @property
    def total(self) -> int:
        return sum(result.total for result in self.results)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "started_at": self.started_at.isoformat(),
            "ok": self.ok,
            "total": self.total,
            "policies": [result.as_dict() for result in self.results],
        }


class Retention:
    """The registered retention policies, and running them."""

    def __init__(self, taskra: Taskra) -> None:
        self.taskra = taskra
        self.policies = RetentionPolicies(taskra.settings)

    async def run(
        self,
        *,
        dry_run: bool = False,
        only: Sequence[str] = (),
        batch_size: int | None = None,
        on_progress: RunProgress | None = None,
    ) -> RetentionReport:
        """Run every policy (or those named in ``only``) in registration order.

        :class:`InvalidInput` names an unknown policy before anything is deleted.
        """
        unknown = [name for name in only if name not in self.policies]
        if unknown:
            raise InvalidInput(
                f"No retention policy named {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(self.policies.names) or 'none'}."
            )
        settings = self.taskra.settings
        started_at = self.taskra.clock.now()
        results = []
        for policy in self.policies:
            if only and policy.name not in only:
                continue
            now = self.taskra.clock.now()
            period = policy.period_for(settings)
            ctx = SweepContext(
                db=self.taskra.db,
                settings=settings,
                now=now,
                cutoff=now - period,
                batch_size=batch_size or settings.retention_batch_size,
                dry_run=dry_run,
                on_progress=_bind(on_progress, policy.name),
            )
            began = time.perf_counter()
            error = None
            counts: dict[str, int] = {}
            try:
                counts = {table: int(n) for table, n in (await policy.sweep(ctx)).items()}
            except Exception as exc:
                error = mask_text(f"{type(exc).__name__}: {exc}")[:500]
                log.warning(
                    "retention policy failed", extra={"policy": policy.name, "error": error}
                )
            result = PolicyResult(
                name=policy.name,
                description=policy.description,
                period=period,
                cutoff=ctx.cutoff,
                counts=counts,
                seconds=time.perf_counter() - began,
                error=error,
            )
            results.append(result)
            log.info(
                "retention policy swept",
                extra={"policy": policy.name, "dry_run": dry_run, "rows": result.total},
            )
        return RetentionReport(dry_run=dry_run, started_at=started_at, results=tuple(results))


def _bind(on_progress: RunProgress | None, name: str) -> Callable[[int], Any] | None:
    if on_progress is None:
        return None
    return lambda deleted: on_progress(name, deleted)
