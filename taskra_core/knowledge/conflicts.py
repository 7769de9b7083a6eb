"""Finding where a store's documents contradict each other.

An FAQ saying "14 days to return" while the refund policy says 30 will make the assistant
quote one or the other at random, and a customer will hold the shop to the better one. This
reads the checkable facts (see :mod:`taskra_core.knowledge.facts`) out of every policy, FAQ
and product, and reports a :class:`Conflict` only where two different documents state
different values for the same fact about the same thing (the same region and service, the
same product range).

Product warranties are compared only with a policy statement that names their product line
("Scafell boots: 3 years" and the "Scafell Leather Walking Boot"); a product with its own
warranty term that no policy mentions is not a contradiction.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from taskra_core.knowledge.facts import HOME_REGIONS, WARRANTY, Fact, SourceText, extract, scope_key
from taskra_core.knowledge.synonyms import stem
from taskra_core.models import KnowledgeItem, Store

_LABELS = {
    "return_window": "Return window",
    "refund_processing": "Refund processing time",
    "free_delivery_threshold": "Free delivery threshold",
    "delivery_time": "Delivery time",
    "warranty": "Warranty length",
}


class ConflictValue(NamedTuple):
    """One document's statement: the value as written, where, and the sentence."""

    value: str
    source_id: str
    excerpt: str


@dataclass(frozen=True)
class Conflict:
    """Documents that disagree about one fact.

    ``fact`` is one of ``return_window``, ``refund_processing``, ``free_delivery_threshold``,
    ``delivery_time``, ``warranty``; ``scope`` says what it is about ("uk standard",
    "scafell boot", or "" when the fact is store-wide).
    """

    fact: str
    scope: str
    values: list[ConflictValue]

    @property
    def sources(self) -> list[str]:
        return sorted({value.source_id for value in self.values})

    def describe(self) -> str:
        """One line for people: "Return window: 30 days (policy:...) vs 14 days (faq:...)"."""
        by_value: dict[str, list[str]] = defaultdict(list)
        for value in self.values:
            by_value[value.value].append(value.source_id)
        label = _LABELS.get(self.fact, self.fact) + (f" ({self.scope})" if self.scope else "")
        stated = " vs ".join(f"{v} ({', '.join(s)})" for v, s in by_value.items())
        return f"{label}: {stated}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "fact": self.fact,
            "scope": self.scope,
            "description": self.describe(),
            "values": [value._asdict() for value in self.values],
        }


async def find_conflicts(session: AsyncSession, store: Store) -> list[Conflict]:
    """Every fact that two of ``store``'s documents state differently."""
    rows = (
        await session.execute(
            select(
                col(KnowledgeItem.source_id),
                col(KnowledgeItem.kind),
                col(KnowledgeItem.title),
                col(KnowledgeItem.body),
            )
            .where(col(KnowledgeItem.store_id) == store.id)
            .order_by(col(KnowledgeItem.source_id))
        )
    ).all()
    documents = [SourceText(source_id=r[0], kind=r[1], title=r[2], body=r[3]) for r in rows]
    home = HOME_REGIONS.get((store.currency or "").upper(), "domestic")
    store_words = frozenset(re.findall(r"[a-z0-9]+", (store.name or "").lower()))
    return conflicts_in(documents, home, store_words)


def conflicts_in(
    documents: list[SourceText], home: str, store_words: frozenset[str] = frozenset()
) -> list[Conflict]:
    """The conflicts among ``documents`` (pure: no database), in a stable order."""
    groups: dict[tuple[str, str], list[Fact]] = defaultdict(list)
    product_warranties: list[tuple[SourceText, Fact]] = []
    for document in documents:
        for fact in extract(document, home):
            if fact.fact != WARRANTY:
                groups[(fact.fact, fact.scope)].append(fact)
            elif document.kind == "product":
                product_warranties.append((document, fact))
            else:
                groups[(WARRANTY, scope_key(fact.scope, store_words))].append(fact)
    lines = [scope for fact, scope in groups if fact == WARRANTY and scope != "general"]
    for document, fact in product_warranties:
        for line in _product_lines(document.title, lines):
            groups[(WARRANTY, line)].append(fact)
    conflicts = [_conflict(key, facts) for key, facts in sorted(groups.items())]
    return [conflict for conflict in conflicts if conflict is not None]


def _product_lines(title: str, lines: list[str]) -> list[str]:
    """The product lines a policy names that ``title`` belongs to: every word of the line is
    in the title, and the title starts with one of them ("Scafell boots" covers "Scafell
    Leather Walking Boot" but not "Little Scafell Kids' Boot", a different line)."""
    words = [stem(w) for w in re.findall(r"[a-z0-9]+", title.lower())]
    if not words:
        return []
    return [line for line in lines if words[0] in line.split() and set(line.split()) <= set(words)]


def _conflict(key: tuple[str, str], facts: list[Fact]) -> Conflict | None:
    keys = {fact.key for fact in facts}
    sources = {fact.source_id for fact in facts}
    if len(keys) < 2 or len(sources) < 2:
        return None  # all agree, or one document qualifies itself ("30 days; 14 for sale items")
    values: dict[tuple[str, str], ConflictValue] = {}
    for fact in sorted(facts, key=lambda f: (f.key, f.source_id)):
        values.setdefault((fact.key, fact.source_id), ConflictValue(*_shown(fact)))
    fact_name, scope = key
    return Conflict(fact=fact_name, scope=scope, values=list(values.values()))


def _shown(fact: Fact) -> tuple[str, str, str]:
    return fact.value, fact.source_id, fact.excerpt
