"""What a draft costs: a price table per model, in USD per million tokens.

Costs are kept in micro-dollars (millionths of a USD) as integers, so a month of drafts adds
up exactly. Conveniently, a price of P dollars per million tokens is P micro-dollars per token.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from taskra_core.drafting.types import TokenUsage
from taskra_core.errors import ConfigurationError
from taskra_core.settings import ModelPrice, Settings

# Anthropic's list prices (5-minute cache writes cost 1.25x input, cache reads 0.1x).
BUILT_IN_PRICES: dict[str, ModelPrice] = {
    model: ModelPrice(
        input=i, output=o, cache_write=round(i * 1.25, 6), cache_read=round(i * 0.1, 6)
    )
    for model, i, o in (
        ("claude-sonnet-4-6", 3.0, 15.0),
        ("claude-sonnet-4-5", 3.0, 15.0),
        ("claude-sonnet-4-0", 3.0, 15.0),
        ("claude-haiku-4-5", 1.0, 5.0),
        ("claude-opus-4-6", 5.0, 25.0),
        ("claude-opus-4-5", 5.0, 25.0),
        ("claude-opus-4-1", 15.0, 75.0),
    )
}
FREE = ModelPrice(input=0, output=0, cache_write=0, cache_read=0)


class PriceTable:
    """Prices by model id: the built-in table plus ``TASKRA_MODEL_PRICES``."""

    def __init__(self, settings: Settings) -> None:
        self._prices = BUILT_IN_PRICES | dict(settings.model_prices)

    def price(self, model: str) -> ModelPrice:
        """The price of ``model``; a dated id (``...-20250929``) falls back to its alias."""
        if model in self._prices:
            return self._prices[model]
        alias = model.rsplit("-", 1)[0]
        if model[len(alias) + 1 :].isdigit() and alias in self._prices:
            return self._prices[alias]
        raise ConfigurationError(
            f"No price for model {model!r}: add it to TASKRA_MODEL_PRICES so drafts can be "
            "costed and the monthly budget enforced."
        )

    def cost_micros(self, model: str, usage: TokenUsage, *, free: bool = False) -> int:
        """What ``usage`` of ``model`` costs, in micro-dollars, rounded half up."""
        price = FREE if free else self.price(model)
        total = (
            Decimal(usage.input_tokens) * Decimal(str(price.input))
            + Decimal(usage.cache_write_tokens) * Decimal(str(price.cache_write))
            + Decimal(usage.cache_read_tokens) * Decimal(str(price.cache_read))
            + Decimal(usage.output_tokens) * Decimal(str(price.output))
        )
        return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def usd(micros: int) -> float:
    """Micro-dollars as dollars, for display and JSON."""
    return round(micros / 1_000_000, 6)
