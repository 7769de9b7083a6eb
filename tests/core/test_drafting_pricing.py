"""Costs from the price table, the settings that extend it, and the default model."""

from __future__ import annotations

import pytest
from anthropic._data import DEPRECATED_MODELS
from anthropic.types.model import Model

from taskra_core.drafting.pricing import PriceTable, usd
from taskra_core.drafting.types import TokenUsage
from taskra_core.errors import ConfigurationError
from taskra_core.settings import DEFAULT_MODEL, Settings


def test_cost_is_exact_in_micro_dollars() -> None:
    """Sonnet: $3 in, $3.75 cache write, $0.30 cache read, $15 out per million tokens."""
    prices = PriceTable(Settings.from_values())
    usage = TokenUsage(
        input_tokens=1_000, cache_write_tokens=2_000, cache_read_tokens=10_000, output_tokens=300
    )
    assert prices.cost_micros("claude-sonnet-4-6", usage) == 3_000 + 7_500 + 3_000 + 4_500
    assert usd(18_000) == 0.018


def test_dated_model_ids_use_their_alias_price() -> None:
    """claude-haiku-4-5-20251001 costs what claude-haiku-4-5 costs."""
    prices = PriceTable(Settings.from_values())
    assert prices.price("claude-haiku-4-5-20251001") == prices.price("claude-haiku-4-5")


def test_unpriced_model_is_a_clear_configuration_error() -> None:
    """A model with no price names the setting that fixes it."""
    with pytest.raises(ConfigurationError, match="TASKRA_MODEL_PRICES"):
        PriceTable(Settings.from_values()).price("gpt-9")


def test_prices_from_the_environment_extend_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """TASKRA_MODEL_PRICES adds models (JSON, USD per million tokens)."""
    monkeypatch.setenv(
        "TASKRA_MODEL_PRICES",
        '{"house-model": {"input": 1, "output": 2, "cache_write": 1.25, "cache_read": 0.1}}',
    )
    prices = PriceTable(Settings.from_env())
    assert prices.cost_micros("house-model", TokenUsage(1_000_000, 0, 0, 0)) == 1_000_000
    assert prices.price("claude-sonnet-4-6").output == 15


@pytest.mark.parametrize(
    "value",
    [
        "{not json",
        '{"m": {"input": 1}}',
        '{"m": {"input": -1, "output": 1, "cache_write": 1, "cache_read": 1}}',
    ],
)
def test_malformed_prices_stop_start_up(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """Bad JSON, missing or negative prices: an error naming the variable, not the value."""
    monkeypatch.setenv("TASKRA_MODEL_PRICES", value)
    with pytest.raises(ConfigurationError, match="TASKRA_MODEL_PRICES") as caught:
        Settings.from_env()
    assert value not in str(caught.value)


def test_default_model_is_current_and_priced() -> None:
    """The default model is one the installed SDK knows and does not mark deprecated."""
    assert DEFAULT_MODEL in Model.__args__[0].__args__  # type: ignore[attr-defined]
    assert DEFAULT_MODEL not in DEPRECATED_MODELS
    assert PriceTable(Settings.from_values()).price(DEFAULT_MODEL).input > 0
