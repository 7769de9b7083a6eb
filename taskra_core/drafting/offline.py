"""The offline reply model: a grounded, deterministic draft without any language model.

It is what Taskra drafts with when no model provider is configured, and what tests and demos
rely on. Every factual sentence it writes is quoted from a retrieved source, read from the
customer's verified order, or computed from them (a return window against ``request.now``),
so a reviewer can check each one against the cited ids. It never claims an action was taken:
refunds, cancellations, exchanges, address changes and discounts become proposals that a
person approves. It writes English only; other languages are flagged for a person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from taskra_core.drafting.intents import classify_intent, proposed_action
from taskra_core.drafting.language import LANGUAGE_NAMES, detect_language
from taskra_core.drafting.order_text import day, delivered_at, order_facts, utc
from taskra_core.drafting.orders import order_names, parse_time
from taskra_core.drafting.reply_models import ReplyModel
from taskra_core.drafting.types import DraftRequest, ModelReply, Proposal, Source, TokenUsage
from taskra_core.errors import InvalidInput
from taskra_core.knowledge.facts import HOME_REGIONS, RETURN_WINDOW, SourceText, extract
from taskra_core.knowledge.facts import statements as split_statements
from taskra_core.knowledge.query import Query, build_query, words
from taskra_core.knowledge.synonyms import stem
from taskra_core.settings import Settings

# Order intents whose answer is about the sender's own order, so the newest one is used when
# none is named. A shipping question names an order or is about delivery in general.
_OWN_ORDER_INTENTS = frozenset({"order_status", "return_request", "cancellation"})
_ORDER_ONLY_INTENTS = frozenset({"order_status", "cancellation"})
_POLICY_FOR_INTENT = {"return_request": "REFUND_POLICY", "shipping_question": "SHIPPING_POLICY"}
_REFUND_POLICY = "policy:REFUND_POLICY"
WORD_LIMIT = 120
# Retrieved sources looked at: search ranks them, but the best sentence may sit in the third.
_CANDIDATES = 4
_MAX_SOURCES = 2
_MAX_SENTENCE_WORDS = 60
# A source answers the message when its best sentence and title share this much with it.
_GOOD = 2.0
_SECOND_SOURCE = 0.5
_TITLE_WORD = 0.25
_NUMBER_WORD = 0.3
# A product's variant lines ("M / Red (SKU FF-1-M): price 75.00, in stock.") answer only
# questions about stock or prices.
_VARIANT_LINE = re.compile(r"\(SKU [^)]*\):")
_STOCK_QUESTION = re.compile(r"\b(?:stock|price|cost|available|availability|sold)\b")
_ASK_FOR_DETAILS = (
    "I can only discuss an order with the person who placed it, so please reply with the "
    "order number and the email address used to place the order, and we'll look into it."
)
_ORDERS_UNAVAILABLE = (
    "I can't see your order details right now, so I've passed your message to the team, "
    "who will check the order and reply to you directly."
)
_NO_GROUNDING = (
    "Thanks for getting in touch. I've passed your question to the team, who will reply to "
    "you directly."
)
_ACTION_NAMES = {
    "refund": "a refund",
    "exchange": "an exchange",
    "cancel": "a cancellation",
    "address_change": "an address change",
    "discount": "a discount",
}
_PROPOSAL_TEXT = {
    "refund": "I've asked the team to approve a refund; they will confirm the next steps.",
    "exchange": "I've asked the team to approve an exchange; they will confirm the next steps.",
    "cancel": "I've passed your cancellation request to the team, who will confirm whether "
    "it can be cancelled.",
    "address_change": "I've passed the address change to the team, who will confirm whether "
    "the order can still be changed.",
    "discount": "I've asked the team to check the discount for you; they will confirm.",
}


class OfflineReplyModel(ReplyModel):
    """Drafts from sources and orders by rules; no network, same input -> same reply."""

    name = "offline"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings

    async def draft(self, request: DraftRequest) -> ModelReply:
        return await _Draft(request).compose()


@dataclass
class _Draft:
    request: DraftRequest
    paragraphs: list[str] = field(default_factory=list)
    cited: dict[str, None] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)
    # Sentences already quoted, so a second source cannot repeat them.
    quoted: set[str] = field(default_factory=set)
    asked_for_details: bool = False
    orders_unavailable: bool = False  # the order source did not answer: say so, never guess
    window_note: str = ""

    async def compose(self) -> ModelReply:
        r = self.request
        message = f"{r.subject}\n{r.text}" if r.subject else r.text
        language = detect_language(message)
        intent = classify_intent(r.text, r.subject)
        action = proposed_action(intent, r.text)
        query = _query(message)
        if language != "en":
            name = LANGUAGE_NAMES.get(language, language)
            self.reasons.append(
                f"the customer wrote in {name}; the offline model replies in English"
            )

        order = await self._find_order(message, intent, query)
        if order is not None:
            self.paragraphs.append(" ".join(order_facts(order, r.now)))
            self.cited[str(order["source_id"])] = None
        if intent == "return_request":
            self._return_window(order)
        self._quote_sources(query, intent, action)
        if self.asked_for_details:
            self.paragraphs.append(_ASK_FOR_DETAILS)
        if self.orders_unavailable:
            self.paragraphs.append(_ORDERS_UNAVAILABLE)
            self.reasons.append("order data is unavailable right now; the order was not checked")

        grounded = bool(self.cited) or self.asked_for_details or self.orders_unavailable
        if action is not None:
            order_name = str(order["name"]) if order is not None else None
            details = _details(action, order, self.window_note)
            self.proposals.append(Proposal(action, order_name, details))
            self.paragraphs.append(_PROPOSAL_TEXT[action])
        if not grounded:
            self.paragraphs.insert(0, _NO_GROUNDING)
            self.reasons.append(
                "no grounding source: no retrieved document or verified order answers this message"
            )
        return ModelReply(
            text=self._text(),
            model=OfflineReplyModel.name,
            sources=tuple(self.cited),
            intent=intent,
            language=language,
            confidence=self._confidence(language),
            needs_human=bool(self.reasons),
            human_reasons=tuple(self.reasons),
            proposals=tuple(self.proposals),
            usage=TokenUsage(),
            rounds=1,
        )

    async def _find_order(
        self, message: str, intent: str, query: Query | None
    ) -> dict[str, Any] | None:
        """The order the reply is about, verified as the sender's; ``None`` if there is none
        (and then, when the customer asked about one, ask for the details instead)."""
        tools = self.request.tools
        names = order_names(message)
        if names:
            result = await tools.lookup_order(names[0])
            self.orders_unavailable = bool(result.get("orders_unavailable"))
            if result.get("verification_needed"):
                self.asked_for_details = True
                return None
            found: list[dict[str, Any]] = result.get("orders") or []
            return found[0] if found else None
        if intent not in _OWN_ORDER_INTENTS:
            return None
        orders = list(self.request.orders)
        if not orders:
            result = await tools.lookup_order(None)
            self.orders_unavailable = bool(result.get("orders_unavailable"))
            orders = [] if result.get("verification_needed") else result.get("orders") or []
        if self.orders_unavailable:
            return None
        if not orders:
            self.asked_for_details = True
            return None
        return _best_order(orders, query)

    def _return_window(self, order: dict[str, Any] | None) -> None:
        """Whether ``order`` can still be returned, by the refund policy's window counted to
        ``request.now``; without an order, what the policy says."""
        window = _window(self.request)
        if window is None:
            return
        days, excerpt = window
        self.cited[_REFUND_POLICY] = None
        self.quoted.add(_sentence(excerpt))
        if order is None:
            if len(excerpt.split()) <= _MAX_SENTENCE_WORDS and not excerpt.endswith("..."):
                self.paragraphs.append(f"From our returns policy: {_sentence(excerpt)}")
            else:
                self.paragraphs.append(f"Our returns policy gives you {days} days to return items.")
            return
        now = utc(self.request.now)
        by_order_date = re.search(r"\b(?:purchase|order date|bought|ordered)", excerpt, re.I)
        start = parse_time(order.get("placed_at")) if by_order_date else delivered_at(order)
        counted = "the order date" if by_order_date else "delivery"
        if start is None:
            self.paragraphs.append(
                f"Our {days}-day return window starts on delivery, so it has not started yet."
            )
            return
        deadline = utc(start) + timedelta(days=days)
        left = (deadline.date() - now.date()).days
        if left >= 0:
            sentence = (
                f"That is within our {days}-day return window from {counted}, which runs "
                f"until {day(deadline, now)} ({left} {'day' if left == 1 else 'days'} left)."
            )
        else:
            sentence = (
                f"That is outside our {days}-day return window from {counted}, which ended "
                f"on {day(deadline, now)}."
            )
            self.reasons.append(f"return requested outside the {days}-day return window")
        # The order paragraph just gave the date this sentence counts from.
        self.paragraphs[-1] += f" {sentence}"
        self.window_note = (
            f"{'Placed' if by_order_date else 'Delivered'} on {day(start, now)}, "
            f"{'within' if left >= 0 else 'outside'} the {days}-day return window "
            f"(last day {day(deadline, now)})."
        )

    def _quote_sources(self, query: Query | None, intent: str, action: str | None) -> None:
        # An order question without its order has no answer in the documents; guessing
        # from FAQs about other orders would only add noise to "send us the details".
        waiting = self.asked_for_details or self.orders_unavailable
        if query is None or (waiting and intent in _ORDER_ONLY_INTENTS):
            return
        candidates = list(self.request.sources[:_CANDIDATES])
        if intent in _ORDER_ONLY_INTENTS:
            # A product's description does not answer where an order is or whether it can
            # be cancelled; the store's FAQs and policies may.
            candidates = [s for s in candidates if not s.source_id.startswith("product:")]
        policy_id = f"policy:{_POLICY_FOR_INTENT.get(intent, '')}"
        for policy in self.request.store.policies:
            if policy.source_id == policy_id and all(s.source_id != policy_id for s in candidates):
                candidates.append(policy)
        budget = WORD_LIMIT - 15 - sum(len(p.split()) for p in self.paragraphs)
        if self.asked_for_details:
            budget -= len(_ASK_FOR_DETAILS.split())
        if self.orders_unavailable:
            budget -= len(_ORDERS_UNAVAILABLE.split())
        if action is not None:
            budget -= len(_PROPOSAL_TEXT[action].split())
        picks = _pick_sentences(candidates, query, budget, self.quoted, required=not self.cited)
        for source, sentences in picks:
            self.quoted.update(sentences)
            self.paragraphs.append(f"{_label(source)}: {' '.join(sentences)}")
            self.cited[source.source_id] = None

    def _confidence(self, language: str) -> float:
        grounding = len(self.cited)
        confidence = 0.7 if grounding >= 2 else 0.55 if grounding == 1 else 0.4
        if language != "en" or (self.reasons and grounding):
            confidence = min(confidence, 0.4)
        return confidence

    def _text(self) -> str:
        name = (self.request.customer_name or "").strip()
        first = name.split()[0] if name else ""
        greeting = f"Hi {first}," if first and "@" not in first else "Hello,"
        store = self.request.store.name.strip()
        team = f"{store} customer support" if store else "Customer support"
        body = "\n\n".join(self.paragraphs)
        return f"{greeting}\n\n{body}\n\nBest wishes,\n{team}"


def _query(message: str) -> Query | None:
    try:
        return build_query(message)
    except InvalidInput:
        return None


def _stems(text: str) -> set[str]:
    return {stem(w) for w in words(text)}


def _matches(query: Query, stems: set[str]) -> dict[int, float]:
    """The message's concepts that ``stems`` covers, each at the weight of its best matching
    word (the customer's own word 1.0, a synonym less)."""
    found: dict[int, float] = {}
    for index, concept in enumerate(query.concepts):
        for word, weight in zip(concept.words, concept.weights, strict=True):
            if all(stem(part) in stems for part in word.split()):
                # A bare number ("Ullswater 1", "7 days") matches too much by chance.
                weight *= _NUMBER_WORD if word.isdigit() else 1.0
                found[index] = max(found.get(index, 0.0), weight)
    return found


def _overlap(query: Query, stems: set[str]) -> float:
    return sum(_matches(query, stems).values())


def _pick_sentences(
    sources: list[Source], query: Query, budget: int, already: set[str], required: bool
) -> list[tuple[Source, list[str]]]:
    """The first one or two sources (in retrieval order) that answer ``query``, each with its
    best sentences in document order, within ``budget`` words overall (``required``: at least
    one sentence even if it is longer, when nothing else grounds the reply)."""
    good: list[tuple[float, Source, list[tuple[float, int, str]]]] = []
    asks_stock = bool(_STOCK_QUESTION.search(" ".join(query.terms)))
    for source in sources:
        title = _matches(query, _stems(source.title))
        sentences = []
        for position, (_, _, raw) in enumerate(split_statements(source.text)):
            sentence = raw.strip()
            # Questions (an FAQ repeating its title) and fragments of wrapped lines state
            # nothing; repeats of what the reply already says add nothing.
            if (
                len(sentence.split()) < 4
                or sentence.endswith("?")
                or not (sentence[:1].isupper() or sentence[:1].isdigit())
                or _sentence(sentence) in already
                or (_VARIANT_LINE.search(sentence) and not asks_stock)
            ):
                continue
            # Words the title already covers (the product's name) say which document this is,
            # more than which of its sentences answers the question.
            found = _matches(query, _stems(sentence))
            score = sum(w * (_TITLE_WORD if i in title else 1.0) for i, w in found.items())
            sentences.append((score, position, sentence))
        best = max((score for score, _, _ in sentences), default=0.0)
        relevance = best + sum(title.values())
        if best > 0 and relevance >= _GOOD:
            good.append((relevance, source, sentences))
    # Search ranked the sources with more than word overlap, so its order is kept.
    if good:
        # A second source must be nearly as relevant as the first, or it is padding.
        good = [g for g in good[:_MAX_SOURCES] if g[0] >= good[0][0] * _SECOND_SOURCE]
    picks: list[tuple[Source, list[str]]] = []
    left = budget
    for _, source, sentences in good:
        left -= len(_label(source).split())
        chosen: list[tuple[int, str]] = []
        for score, position, sentence in sorted(sentences, key=lambda s: (-s[0], s[1]))[:2]:
            size = len(sentence.split())
            too_long = size > left and (picks or chosen or not required)
            if score <= 0 or size > _MAX_SENTENCE_WORDS or too_long:
                continue
            chosen.append((position, sentence))
            left -= size
        if chosen:
            picks.append((source, [_sentence(s) for _, s in sorted(chosen)]))
    return picks


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?", ":")) else f"{text}."


def _label(source: Source) -> str:
    kind = source.source_id.split(":", 1)[0]
    title = source.title.strip() or source.source_id
    if kind == "product":
        return f"From the {title} page"
    if kind == "faq":
        return f'From our FAQ "{title}"'
    if kind == "policy":
        return f"From our {title}" + ("" if title.lower().endswith("policy") else " policy")
    return f"From {title}"


def _window(request: DraftRequest) -> tuple[int, str] | None:
    """The return window in days from the store's refund policy, and the sentence saying so."""
    home = HOME_REGIONS.get(request.store.currency.upper(), "uk")
    for policy in request.store.policies:
        if policy.source_id != _REFUND_POLICY:
            continue
        text = SourceText(policy.source_id, "policy", policy.title, policy.text)
        for fact in extract(text, home):
            if fact.fact == RETURN_WINDOW:
                return int(fact.key), fact.excerpt
    return None


def _best_order(orders: list[dict[str, Any]], query: Query | None) -> dict[str, Any]:
    """The order whose items the message mentions most, newest first on a tie."""

    def placed(order: dict[str, Any]) -> datetime:
        return utc(parse_time(order.get("placed_at")) or datetime.min.replace(tzinfo=UTC))

    def mentions(order: dict[str, Any]) -> float:
        titles = " ".join(str(i.get("title") or "") for i in order.get("items") or [])
        return _overlap(query, _stems(titles)) if query is not None else 0.0

    return max(orders, key=lambda order: (mentions(order), placed(order)))


def _details(action: str, order: dict[str, Any] | None, window: str) -> str:
    """What the person approving the proposal needs to know first."""
    which = f"order {order['name']}" if order is not None else "an order not identified yet"
    return " ".join(f"The customer asks for {_ACTION_NAMES[action]} on {which}. {window}".split())
