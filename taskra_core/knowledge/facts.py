"""Reading checkable facts out of a store's documents: return window, refund processing time,
free-delivery threshold, delivery times, warranty length.

Each fact is read from one sentence (or one bullet) with careful patterns and normalized, so
"30 days", "thirty days" and "a 30-day returns policy" compare equal. A number is only taken
for a fact when its sentence is about that fact and nothing nearby says it is about something
else: "return a whole order within 14 days and we refund the delivery charge" is not a return
window, and "banks take 5-10 working days" is not the shop's refund time. Missing a fact is
better than inventing a conflict.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from taskra_core.knowledge.synonyms import stem

RETURN_WINDOW = "return_window"
REFUND_PROCESSING = "refund_processing"
FREE_DELIVERY_THRESHOLD = "free_delivery_threshold"
DELIVERY_TIME = "delivery_time"
WARRANTY = "warranty"

_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "fourteen": 14, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40, "forty-five": 45,
    "sixty": 60, "ninety": 90,
}  # fmt: skip
_N = r"(\d+|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r")"
_CURRENCIES = {"£": "GBP", "$": "USD", "€": "EUR", "gbp": "GBP", "usd": "USD", "eur": "EUR"}
_MONEY = r"(£|\$|€|gbp\s?|usd\s?|eur\s?)(\d+(?:[.,]\d{2})?)"

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")
_BULLET = re.compile(r"^\s*[-*•]\s+")

# -- return window --
_RETURN_WORDS = re.compile(r"\b(?:return|send\s+(?:\w+\s+)?back|exchange)", re.IGNORECASE)
_DAY_RETURNS = re.compile(rf"\b{_N}[- ](day|week|month)\s+(?:free\s+)?returns?\b", re.I)
_WITHIN = re.compile(rf"\bwithin\s+{_N}\s+(days?|weeks?|months?)\b", re.IGNORECASE)
# Numbers in a returns sentence that belong to another rule.
_NOT_RETURN_WINDOW = re.compile(
    r"fault|defect|damage|reject|cancel|price|reduc|differen|delivery charge|delivery cost"
    r"|shipping cost|whole order|collect|claim|report|warrant|statutory|process|working day"
    r"|business day|keep|valid|expire",
    re.IGNORECASE,
)
# -- refund processing --
_REFUND_PROCESSING = re.compile(
    r"\b(?:process(?:es|ed)?\s+(?:all\s+|your\s+)?(?:refunds?|returns?)"
    r"|refunds?\s+(?:are|is|will\s+be)\s+(?:processed|issued|made))\b"
    rf"[^.]*?\bwithin\s+{_N}\s+(working\s+|business\s+)?days?\b",
    re.IGNORECASE,
)
# -- delivery --
_FREE_OVER = re.compile(
    rf"\bfree\b[^.;]{{0,60}}?\b(?:over|above|from|of|exceeding)\s+{_MONEY}"
    rf"|{_MONEY}\s+or\s+more\b[^.;]{{0,40}}?\bfree\b",
    re.IGNORECASE,
)
_DURATION = re.compile(
    rf"\b{_N}(?:\s*(?:-|\u2013|to)\s*{_N})?\s+(working\s+|business\s+)?days?\b"
    r"|\bnext\s+(working\s+|business\s+)?day\b",
    re.IGNORECASE,
)
_SERVICE = re.compile(
    r"\b(standard|express|next[- ]day|saturday|economy|priority|first[- ]class"
    r"|second[- ]class)\b(?!\s+(?:price|rate|charge))",
    re.IGNORECASE,
)
_NOT_DELIVERY_TIME = re.compile(
    r"return|refund|investigat|quote|repair|resol|reach us|bank|klarna|paypal|collect"
    r"|ready|valid|cancel|claim|replace|respond|reply|expected delivery date|hasn't arrived"
    r"|has not arrived|for dispatch|dispatched (?:the|on|within)|allow up to",
    re.IGNORECASE,
)
_DELIVERY_CUE = re.compile(r"deliver|shipping|ship|arriv|transit|postage|dispatch", re.I)
# Region words, most specific first: a line about "Highlands & Islands" is not about "UK".
_REGIONS = (
    ("uk-remote", r"highlands|islands|northern ireland|isle of man|scilly|remote"),
    ("bfpo", r"\bbfpo\b"),
    ("eu", r"\beu\b|european union|\beurope\b"),
    ("us", r"\busa\b|\bu\.s\.|united states|contiguous"),
    ("international", r"international|worldwide|overseas|rest of the world"),
    ("uk", r"\buk\b|united kingdom|great britain|mainland"),
)
HOME_REGIONS = {"GBP": "uk", "USD": "us", "EUR": "eu"}
# -- warranty --
_WARRANTY_WORD = r"(?:warranty|guarantee)"
# (pattern, where its scope is): "2-year warranty", "Warranty: 3 years", "covered for 3
# years", "3 years for our waterproof shells", "lifetime guarantee".
_WARRANTY_PATTERNS = (
    (rf"\b{_N}[- ](years?|months?)(?:'s)?\s+(?:manufacturer'?s?\s+)?{_WARRANTY_WORD}", "around"),
    (rf"\b{_WARRANTY_WORD}\s*:?\s*(?:of\s+|for\s+|is\s+)?{_N}[- ](years?|months?)\b", "around"),
    (rf"\bcovered\s+for\s+{_N}\s+(years?|months?)\b", "around"),
    (rf"\b{_N}\s+(years?|months?)\s+for\s+(?:our\s+|your\s+|all\s+)?([^,;().]+)", "inside"),
    (rf"\b(lifetime)\s+{_WARRANTY_WORD}", "around"),
)
_WARRANTIES = tuple((re.compile(p, re.IGNORECASE), where) for p, where in _WARRANTY_PATTERNS)
_WARRANTY_MENTION = re.compile(rf"\b{_WARRANTY_WORD}|\bcovered\b", re.IGNORECASE)
# "X are covered for 3 years", "X have a 2-year warranty", "X carry a lifetime guarantee".
_SCOPE_BEFORE = re.compile(
    r"(?:^|[,;(])\s*(?:and\s+)?(?:our\s+|your\s+|all\s+)?(?P<scope>[\w&' -]{3,80}?)\s+"
    r"(?:are|is|have|has|carry|carries|comes?\s+with|gets?)\s+(?:a\s+|an\s+)?$",
    re.IGNORECASE,
)
_SCOPE_AFTER = re.compile(
    rf"^\s*(?:{_WARRANTY_WORD}\s+)?(?:on|for)\s+(?:our\s+|your\s+|all\s+)?(?P<scope>[^,;().?]+)",
    re.IGNORECASE,
)
_GENERAL = frozenset({"product", "item", "everyth", "all", "good", "brand", "range"})
_SCOPE_DROP = frozenset({"our", "your", "the", "all", "a", "an", "and", "of", "branded"})


@dataclass(frozen=True)
class Fact:
    """One stated value: ``key`` compares values, ``value`` is how people write it."""

    fact: str
    scope: str
    key: str
    value: str
    source_id: str
    excerpt: str


@dataclass(frozen=True)
class SourceText:
    """What facts are read from: a knowledge item's text and what it is."""

    source_id: str
    kind: str
    title: str
    body: str


def _number(word: str) -> int:
    word = word.lower()
    return int(word) if word.isdigit() else _NUMBER_WORDS[word]


def _days(amount: str, unit: str) -> int:
    unit = unit.lower()
    factor = 7 if unit.startswith("week") else 30 if unit.startswith("month") else 1
    return _number(amount) * factor


def statements(body: str) -> Iterator[tuple[str, str, str]]:
    """``(heading, bullet label, sentence)`` for every sentence of ``body``.

    Lines wrapped inside a paragraph or a bullet are joined first. A heading is a short
    one-line paragraph without closing punctuation; a bullet's label is what comes before
    its first colon ("Standard (Royal Mail Tracked 48)").
    """
    heading = ""
    for bullet, block in _blocks(body):
        if not bullet and len(block) <= 120 and not block.endswith((".", "!", "?", ":", ",")):
            heading = block
            continue
        label = block.split(":", 1)[0] if bullet and ":" in block[:80] else ""
        for sentence in _SENTENCE.split(block):
            yield heading, label, sentence


def _blocks(body: str) -> Iterator[tuple[bool, str]]:
    """Paragraphs and bullets, each on one line: ``(is a bullet, text)``."""
    lines: list[str] = []
    bullet = False
    for raw in [*body.splitlines(), ""]:
        line = raw.strip()
        starts_bullet = bool(_BULLET.match(line))
        if (not line or starts_bullet) and lines:
            yield bullet, " ".join(lines)
            lines = []
        if line:
            bullet = starts_bullet if not lines else bullet
            lines.append(_BULLET.sub("", line))


def extract(document: SourceText, home: str) -> Iterator[Fact]:
    """Every fact stated in ``document``; ``home`` is the store's own region ("uk")."""
    for heading, label, sentence in statements(document.body):
        excerpt = sentence if len(sentence) <= 200 else sentence[:197] + "..."
        for fact, scope, key, value in _read(document, heading, label, sentence, home):
            yield Fact(fact, scope, key, value, document.source_id, excerpt)


def _read(
    document: SourceText, heading: str, label: str, sentence: str, home: str
) -> Iterator[tuple[str, str, str, str]]:
    yield from _return_window(sentence)
    yield from _refund_processing(sentence)
    yield from _delivery(document, heading, label, sentence, home)
    yield from _warranty(sentence)


def _return_window(sentence: str) -> Iterator[tuple[str, str, str, str]]:
    if _NOT_RETURN_WINDOW.search(sentence):
        return
    match = _DAY_RETURNS.search(sentence)
    if match is None and _RETURN_WORDS.search(sentence):
        match = _WITHIN.search(sentence)
    if match:
        days = _days(match.group(1), match.group(2))
        yield RETURN_WINDOW, "", str(days), f"{days} days"


def _refund_processing(sentence: str) -> Iterator[tuple[str, str, str, str]]:
    match = _REFUND_PROCESSING.search(sentence)
    if match and not re.search(r"\bbank|klarna|paypal|appear|show", sentence, re.I):
        days, working = _number(match.group(1)), bool(match.group(2))
        kind = "working days" if working else "days"
        yield REFUND_PROCESSING, "", f"{days} {kind}", f"{days} {kind}"


def _region(texts: tuple[str, ...], home: str) -> str:
    for text in texts:
        for region, pattern in _REGIONS:
            if text and re.search(pattern, text, re.IGNORECASE):
                return region
    return home


def _delivery(
    document: SourceText, heading: str, label: str, sentence: str, home: str
) -> Iterator[tuple[str, str, str, str]]:
    for free in _FREE_OVER.finditer(sentence):
        region = _region((label, sentence[: free.start()], heading), home)
        symbol, amount = free.group(1, 2) if free.group(1) else free.group(3, 4)
        currency = _CURRENCIES[symbol.strip().lower()]
        number = amount.replace(",", ".")
        number = number[:-3] if number.endswith(".00") else number
        shown = f"{symbol.strip()}{number}" if len(symbol.strip()) == 1 else f"{currency} {number}"
        yield FREE_DELIVERY_THRESHOLD, region, f"{currency} {number}", shown
    if _NOT_DELIVERY_TIME.search(sentence):
        return
    match = _DURATION.search(sentence)
    if match is None:
        return
    # What comes before the duration says what it is for: "Standard (Royal Mail): 2-3 days".
    lead = label or sentence[: match.start()]
    about_delivery = _DELIVERY_CUE.search(sentence) or _DELIVERY_CUE.search(document.title)
    service = _SERVICE.search(lead)
    # Only a named service or a labelled line: prose like "gas goes by road (2-4 days)" is
    # about a product, not the shop's delivery times.
    if not about_delivery or not (service or label):
        return
    # A region the patterns know, else a label naming places ("Switzerland, Norway"), else
    # the sentence or its heading, else the store's home.
    region = _region((label,), "")
    if not region:
        named = label and not service
        region = _label_key(label) if named else _region((lead, heading), home)
    if match.group(0).lower().startswith("next"):
        low = high = 1
        working = bool(match.group(4))
    else:
        low = _number(match.group(1))
        high = _number(match.group(2)) if match.group(2) else low
        working = bool(match.group(3))
    days = f"{low}-{high}" if high != low else str(low)
    unit = ("working " if working else "") + ("day" if high == 1 else "days")
    name = service.group(1).lower().replace(" ", "-") if service else ""
    yield DELIVERY_TIME, f"{region} {name}".strip(), f"{days} {unit}", f"{days} {unit}"


def _label_key(label: str) -> str:
    return " ".join(re.sub(r"\([^)]*\)", " ", label).lower().split())


def _warranty(sentence: str) -> Iterator[tuple[str, str, str, str]]:
    if not _WARRANTY_MENTION.search(sentence):
        return
    taken: list[tuple[int, int]] = []
    for pattern, where in _WARRANTIES:
        for match in pattern.finditer(sentence):
            if any(match.start() < end and start < match.end() for start, end in taken):
                continue  # "Warranty: 2-year warranty" is one statement
            taken.append(match.span())
            if match.group(1).lower() == "lifetime":
                key = value = "lifetime"
            else:
                months = _number(match.group(1)) * (12 if match.group(2)[0] in "yY" else 1)
                key = str(months)
                years = months // 12
                value = f"{months} months" if months % 12 else f"{years} year{'s' * (years > 1)}"
            scope = match.group(3) if where == "inside" else _scope_around(sentence, match)
            for part in re.split(r"\s+and\s+", scope or ""):
                yield WARRANTY, part.strip(), key, value


def _scope_around(sentence: str, match: re.Match[str]) -> str:
    """What a warranty statement covers: "X are covered for", "X have a", "on X"."""
    before = _SCOPE_BEFORE.search(sentence[: match.start()])
    if before:
        return before.group("scope")
    after = _SCOPE_AFTER.match(sentence[match.end() :])
    return after.group("scope") if after else ""


def scope_key(phrase: str, store_words: frozenset[str]) -> str:
    """A scope phrase as comparable stems; products/items in general -> "general"."""
    stems = [
        stem(w)
        for w in re.findall(r"[a-z0-9]+", phrase.lower())
        if w not in _SCOPE_DROP and w not in store_words
    ]
    if not stems or _GENERAL & set(stems):
        return "general"
    return " ".join(sorted(set(stems)))
