"""Tests for taskra_core.clock: the wall clock, the anchored clock and the manual clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

from taskra_core.clock import Clock, ManualClock
from taskra_core.settings import Settings

START = datetime(2025, 3, 17, 9, 0, tzinfo=UTC)


def test_default_clock_is_aware_utc_now() -> None:
    """Clock() reads the real time as an aware UTC datetime."""
    before = datetime.now(UTC)
    now = Clock().now()
    after = datetime.now(UTC)
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)
    assert before <= now <= after


def test_anchored_clock_starts_at_start_and_moves_forward() -> None:
    """Clock(start) first reads start, then advances in real time, never going backwards."""
    clock = Clock(START)
    first = clock.now()
    assert START <= first < START + timedelta(seconds=1)
    time.sleep(0.02)
    second = clock.now()
    assert second > first
    assert second - START < timedelta(seconds=5)
    readings = [clock.now() for _ in range(1000)]
    assert readings == sorted(readings)
    assert readings[0] >= second


def test_anchored_clock_elapses_like_real_time() -> None:
    """Time elapsed on an anchored clock matches elapsed real time."""
    clock = Clock(START)
    real_before, anchored_before = time.monotonic(), clock.now()
    time.sleep(0.05)
    anchored_elapsed = (clock.now() - anchored_before).total_seconds()
    real_elapsed = time.monotonic() - real_before
    assert 0.04 <= anchored_elapsed <= real_elapsed + 0.001


def test_aware_start_in_another_timezone_is_normalized_to_utc() -> None:
    """A start with a non-UTC offset gives UTC readings of the same instant."""
    paris_spring = timezone(timedelta(hours=2))
    start = datetime(2025, 3, 17, 11, 0, tzinfo=paris_spring)
    for clock in (Clock(start), ManualClock(start)):
        now = clock.now()
        assert now.utcoffset() == timedelta(0)
        assert now.tzinfo == UTC
        assert (now.hour, now.minute) == (9, 0)
        assert timedelta(0) <= now - start < timedelta(seconds=1)


def test_clock_from_naive_taskra_now_starts_at_that_utc_time() -> None:
    """A clock built from settings with a naive TASKRA_NOW starts at that wall time in UTC."""
    settings = Settings.from_values(now="2025-03-17T09:00:00")
    now = Clock(settings.now).now()
    assert START <= now < START + timedelta(seconds=1)


def test_manual_clock_moves_only_on_advance() -> None:
    """ManualClock stands still in real time and moves exactly by what advance() is given."""
    clock = ManualClock(START)
    assert clock.now() == START
    time.sleep(0.01)
    assert clock.now() == START
    assert clock.advance(90) == START + timedelta(seconds=90)
    assert clock.now() == START + timedelta(seconds=90)
    clock.advance(0.5)
    assert clock.now() == START + timedelta(seconds=90.5)
