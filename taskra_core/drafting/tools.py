"""The tools a reply model may use, and the rules they enforce whoever calls them.

Every tool is read-only. Order look-ups show an order only to its verified owner; anything
else makes the draft ask for the order number and email and marks it for verification. When
an order source cannot answer (Shopify down), the look-up says so instead of answering from
nothing, and the draft goes to a person (``orders_unavailable``). The
``submit_reply`` tool ends drafting; its ``proposed_actions`` (refunds, cancellations, ...)
are stored for a person to approve and are never carried out by the model.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from taskra_core.drafting.orders import Sender, order_names, owns, summarise_order
from taskra_core.drafting.types import ACTIONS, INTENTS, Source, StoreProfile
from taskra_core.errors import InvalidInput, OrdersUnavailable

if TYPE_CHECKING:
    from taskra_core.app import Taskra
    from taskra_core.models import Store

log = logging.getLogger(__name__)

SUBMIT_REPLY = "submit_reply"
SEARCH_RESULTS = 4
TOOL_TEXT_CHARS = 1_200

# Stable definitions: they open the prompt, inside its cached prefix, so they never vary.
TOOL_DEFINITIONS: tuple[dict[str, Any], ...] = (
    {
        "name": "lookup_order",
        "description": (
            "Look up one of the customer's orders by its name (for example #1021), or list "
            "their recent orders when no name is given. Only orders placed by the verified "
            "sender are returned. If the result says verification is needed, ask the "
            "customer for the order number and the email address used to place it. If it "
            "says order data is unavailable, do not guess: say the team will check and "
            "follow up."
        ),
        "input_schema": {
            "type": "object",
            "properties": {"order_name": {"type": "string", "description": "e.g. #1021"}},
        },
    },
    {
        "name": "search_knowledge",
        "description": (
            "Search the store's products, FAQs and policies. Returns passages with their "
            "source ids, which you cite in submit_reply."
        ),
        "input_schema": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    },
    {
        "name": "lookup_policy",
        "description": "Read one of the store's policies in full.",
        "input_schema": {
            "type": "object",
            "properties": {
                "policy": {
                    "type": "string",
                    "description": "REFUND_POLICY, SHIPPING_POLICY, PRIVACY_POLICY, "
                    "TERMS_OF_SERVICE or CONTACT_INFORMATION",
                }
            },
            "required": ["policy"],
        },
    },
    {
        "name": SUBMIT_REPLY,
        "description": (
            "Submit the reply to send to the customer. Call it exactly once, when done. "
            "Never claim that a refund, cancellation, address change or discount has been "
            "made: propose it in proposed_actions and tell the customer the team will "
            "confirm."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "reply": {
                    "type": "string",
                    "description": "The reply, in the customer's language.",
                },
                "sources": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Source ids the reply is grounded in.",
                },
                "intent": {"type": "string", "enum": list(INTENTS)},
                "language": {"type": "string", "description": "ISO 639-1 code of the reply."},
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                "needs_human": {"type": "boolean"},
                "human_reasons": {"type": "array", "items": {"type": "string"}},
                "proposed_actions": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "action": {"type": "string", "enum": list(ACTIONS)},
                            "order": {"type": "string"},
                            "details": {"type": "string"},
                        },
                        "required": ["action"],
                    },
                },
            },
            "required": ["reply", "sources", "intent", "language", "confidence", "needs_human"],
        },
    },
)


class ToolBox:
    """Answers one draft's tool calls, for one store and one verified sender.

    It remembers which source ids the model has been shown (``shown``), so citations of
    anything else can be dropped, whether an order question needs the sender's identity
    checked first (``verification_needed``), whether an order source failed to answer
    (``orders_unavailable``) and whether the model asked for an order (``orders_asked``).
    """

    def __init__(
        self,
        taskra: Taskra,
        store: Store,
        profile: StoreProfile,
        sender: Sender,
        shown: set[str] | None = None,
    ) -> None:
        self.taskra = taskra
        self.store = store
        self.profile = profile
        self.sender = sender
        self.shown: set[str] = set(shown or ())
        self.shown.update(s.source_id for s in (*profile.policies, *profile.faqs))
        self.verification_needed = False
        self.orders_unavailable = False
        self.orders_asked = False

    async def run(self, name: str, arguments: dict[str, Any]) -> str:
        """Run tool ``name`` and return its result as JSON text for the model."""
        try:
            if name == "lookup_order":
                result: Any = await self.lookup_order(arguments.get("order_name"))
            elif name == "search_knowledge":
                result = await self.search(str(arguments.get("query") or ""))
            elif name == "lookup_policy":
                result = self.policy(str(arguments.get("policy") or ""))
            else:
                result = {"error": f"There is no tool called {name!r}."}
        except InvalidInput as exc:
            result = {"error": str(exc)}
        return json.dumps(result, ensure_ascii=False, default=str)

    async def owned_orders(self, text: str = "") -> tuple[list[dict[str, Any]], list[str]]:
        """The sender's orders (summarised), and names of orders mentioned in ``text`` that the
        sender does not own or that do not exist."""
        names = order_names(text)
        if self.sender.anonymous:
            return [], names
        if self.orders_unavailable:
            return [], []  # failed once in this draft: asking again would only wait again
        try:
            found = await self.taskra.hooks.find_orders(
                self.taskra, self.store, email=self.sender.email, name=None
            )
            mine = [order for order in found if owns(self.sender, order)]
            known = {str(order.get("name")) for order in mine}
            missing = [name for name in names if name not in known]
            for name in missing:
                extra = await self.taskra.hooks.find_orders(
                    self.taskra, self.store, email=None, name=name
                )
                mine.extend(order for order in extra if owns(self.sender, order))
        except OrdersUnavailable as exc:
            # Nothing is known about any order now, ownership included: no order is shown,
            # none is called someone else's, and the reply must not guess.
            log.warning("orders unavailable while drafting", extra={"error": str(exc)})
            self.orders_unavailable = True
            return [], []
        known = {str(order.get("name")) for order in mine}
        missing = [name for name in names if name not in known]
        summaries = [summarise_order(order) for order in mine]
        self.shown.update(s["source_id"] for s in summaries)
        return summaries, missing

    async def lookup_order(self, order_name: Any) -> dict[str, Any]:
        name = str(order_name or "").strip()
        if name and not name.startswith("#"):
            name = f"#{name}"
        self.orders_asked = True
        if self.sender.anonymous:
            self.verification_needed = True
            return {"verification_needed": True, "instruction": _ASK_FOR_DETAILS}
        orders, _missing = await self.owned_orders(name)
        if self.orders_unavailable:
            return {"orders_unavailable": True, "instruction": ORDERS_UNAVAILABLE}
        if name:
            match = [o for o in orders if o.get("name") == name]
            if not match:
                # Whether the order exists for someone else is not revealed either.
                self.verification_needed = True
                return {"verification_needed": True, "instruction": _ASK_FOR_DETAILS}
            return {"orders": match}
        return {"orders": orders[:5]}

    async def search(self, query: str) -> dict[str, Any]:
        if not query.strip():
            raise InvalidInput("The search query is empty.")
        hits = await self.taskra.knowledge.search(self.store, query[:500], k=SEARCH_RESULTS)
        self.shown.update(hit.source_id for hit in hits)
        return {
            "results": [
                {"source_id": hit.source_id, "title": hit.title, "text": hit.snippet}
                for hit in hits
            ]
        }

    def policy(self, policy_type: str) -> dict[str, Any]:
        wanted = policy_type.strip().upper().removeprefix("POLICY:")
        for source in self.profile.policies:
            if source.source_id.upper() == f"POLICY:{wanted}":
                return {"source_id": source.source_id, "title": source.title, "text": source.text}
        names = ", ".join(s.source_id.split(":", 1)[1] for s in self.profile.policies)
        raise InvalidInput(f"No policy {policy_type!r}; the store has: {names or 'none'}.")

    def known_sources(self, cited: list[str]) -> tuple[str, ...]:
        """The cited ids the model was actually shown, in order, without repeats."""
        seen: dict[str, None] = {}
        for source_id in cited:
            if source_id in self.shown:
                seen.setdefault(source_id, None)
            else:
                log.info("dropped a citation the model was not shown", extra={"source": source_id})
        return tuple(seen)


def clip(source: Source, chars: int = TOOL_TEXT_CHARS) -> Source:
    if len(source.text) <= chars:
        return source
    return Source(source.source_id, source.title, source.text[: chars - 1] + "…")


ORDERS_UNAVAILABLE = (
    "Order data is unavailable right now: the shop's order system did not answer. Do not "
    "guess any order's status, tracking or dates. Tell the customer the team will check "
    "the order and follow up, and set needs_human."
)
_ASK_FOR_DETAILS = (
    "This order cannot be shown for this sender. Do not confirm or deny that it exists. "
    "Ask the customer for the order number and the email address used to place the order."
)
