"""Operational metrics in the Prometheus text format: counts only, never personal data.

One :class:`Metrics` per :class:`~taskra_core.app.Taskra` (``taskra.metrics``), with its own
``prometheus_client`` registry: no process-global registry, so two Taskras in one process
(tests, embedders) never mix their figures. Gauges that describe the database are refreshed
from it when scraped, so every process reports the same truth. A feature adds its own with
:meth:`Metrics.on_scrape`::

    waiting = Gauge("taskra_widgets_waiting", "Widgets waiting.", registry=taskra.metrics.registry)
    taskra.metrics.on_scrape(lambda taskra: refresh_widgets(taskra, waiting))

Labels never carry a customer, an email or a store domain.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

if TYPE_CHECKING:
    from taskra_core.app import Taskra

Refresher = Callable[["Taskra"], Awaitable[None]]


class Metrics:
    """The registry of one Taskra and the gauges refreshed on each scrape."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, taskra: Taskra) -> None:
        self.taskra = taskra
        self.registry = CollectorRegistry(auto_describe=True)
        self._refreshers: list[Refresher] = []
        self.privacy_open = Gauge(
            "taskra_privacy_requests_open",
            "Privacy requests received and not yet completed.",
            registry=self.registry,
        )
        self.privacy_overdue = Gauge(
            "taskra_privacy_requests_overdue",
            "Privacy requests past their 30-day due date and not completed (should be 0).",
            registry=self.registry,
        )
        self.jobs = Gauge(
            "taskra_jobs", "Durable jobs by state.", ["state"], registry=self.registry
        )
        self.on_scrape(_privacy)
        self.on_scrape(_jobs)

    def on_scrape(self, refresh: Refresher) -> None:
        """Run ``refresh(taskra)`` before each scrape (to set gauges from the database)."""
        self._refreshers.append(refresh)

    async def render(self) -> bytes:
        """Refresh every gauge, then the registry in the Prometheus text format."""
        for refresh in self._refreshers:
            await refresh(self.taskra)
        return generate_latest(self.registry)


async def _privacy(taskra: Taskra) -> None:
    counts = await taskra.privacy.counts()
    taskra.metrics.privacy_open.set(counts.open)
    taskra.metrics.privacy_overdue.set(counts.overdue)


async def _jobs(taskra: Taskra) -> None:
    for state, count in (await taskra.jobs.counts()).items():
        taskra.metrics.jobs.labels(state=state).set(count)
