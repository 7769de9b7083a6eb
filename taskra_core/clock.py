"""The one clock every time-dependent piece of Taskra reads.

``TASKRA_NOW`` sets the clock's starting point: the clock reads that instant at start-up and
moves forward in real time from there. Demos and evaluations on fixed data (a store whose
"today" is 2025-03-17) see the right date, while leases, retries and timeouts still elapse.
Tests that need full control use :class:`ManualClock`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class Clock:
    """Aware-UTC wall clock, optionally anchored at a fixed starting instant."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start.astimezone(UTC) if start is not None else None
        self._mono0 = time.monotonic()

    def now(self) -> datetime:
        if self._start is None:
            return datetime.now(UTC)
        return self._start + timedelta(seconds=time.monotonic() - self._mono0)


class ManualClock(Clock):
    """A clock that moves only when told to: for tests of time-dependent behaviour."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        return self._now
