"""Fixtures for the fakes of remote services."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.anthropic import FakeAnthropic


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    """A running fake Anthropic API with default settings (1024-token cache minimum)."""
    with FakeAnthropic() as fake:
        yield fake
