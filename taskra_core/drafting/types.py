"""The values that flow through drafting: what a reply model is asked, and what it answers.

A reply model (:class:`~taskra_core.drafting.models.ReplyModel`) receives a
:class:`DraftRequest` and returns a :class:`ModelReply`. Both are frozen and hold plain data,
so a plugin's model needs nothing from Taskra but these classes and the tool box.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from taskra_core.drafting.tools import ToolBox

INTENTS = (
    "product_question",
    "return_request",
    "order_status",
    "shipping_question",
    "complaint",
    "cancellation",
    "discount",
    "other",
)
Intent = Literal[
    "product_question",
    "return_request",
    "order_status",
    "shipping_question",
    "complaint",
    "cancellation",
    "discount",
    "other",
]
# Actions only a person may take; a model can propose them, never perform them.
ACTIONS = ("refund", "cancel", "address_change", "discount", "exchange", "other")


@dataclass(frozen=True)
class TokenUsage:
    """Tokens one draft used. ``input_tokens`` excludes cached tokens, as Anthropic reports."""

    input_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.input_tokens + other.input_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.output_tokens + other.output_tokens,
        )

    @property
    def prompt_tokens(self) -> int:
        """Every input token, cached or not."""
        return self.input_tokens + self.cache_write_tokens + self.cache_read_tokens

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.output_tokens

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Source:
    """A document a reply may cite, by its source id (``product:<handle>``, ``faq:<key>``,
    ``policy:<TYPE>``, ``order:#1001``)."""

    source_id: str
    title: str
    text: str


@dataclass(frozen=True)
class StoreProfile:
    """What stays the same from one message to the next: the cached part of the prompt."""

    name: str
    domain: str
    currency: str
    brand_voice: str
    policies: tuple[Source, ...] = ()
    faqs: tuple[Source, ...] = ()


@dataclass(frozen=True)
class Turn:
    """One earlier message of the conversation."""

    author: str  # customer | agent | ai
    text: str


@dataclass(frozen=True)
class Proposal:
    """An action the reply promises or asks for, waiting for a person to approve it."""

    action: str  # one of ACTIONS
    order: str | None = None
    details: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DraftRequest:
    """Everything a model needs to draft one reply.

    ``orders`` are the orders the sender is verified to own (already summarised, see
    :func:`~taskra_core.drafting.orders.summarise_order`); ``tools`` answers the model's
    look-ups and enforces the same ownership rule. ``orders_unavailable``: the order source
    (Shopify) did not answer, so ``orders`` is empty for that reason and the reply must not
    guess about any order.
    """

    store: StoreProfile
    channel: str
    text: str
    now: datetime
    tools: ToolBox
    subject: str = ""
    customer_name: str | None = None
    history: tuple[Turn, ...] = ()
    sources: tuple[Source, ...] = ()
    orders: tuple[dict[str, Any], ...] = ()
    orders_unavailable: bool = False


@dataclass(frozen=True)
class ModelReply:
    """A model's answer. ``sources`` must be ids the model was shown; others are dropped."""

    text: str
    model: str
    sources: tuple[str, ...] = ()
    intent: str = "other"
    language: str = "en"
    confidence: float = 0.5
    needs_human: bool = False
    human_reasons: tuple[str, ...] = ()
    proposals: tuple[Proposal, ...] = ()
    usage: TokenUsage = field(default_factory=TokenUsage)
    rounds: int = 1
