"""Ranking the index's candidates: by concept, by field, sentence by sentence.

The full-text index finds candidates fast but scores every query word on its own, so a
customer who wrote "postage" (expanded to "delivery", "shipping", "dispatch"...) would favour
documents using all five over the product they named. Here:

- each :class:`~taskra_core.knowledge.query.Concept` counts once, by its best word, and an
  added synonym counts less than the customer's own word; support topics (returns,
  delivery...) count a little more, since they say what the customer wants done;
- rarity is measured per field among the candidates: "warranty" is in every product's
  small print but in few titles, so the FAQ titled with it stands out;
- each sentence of the message scores the documents on its own, and the scores (each
  sentence's scaled to its best) are added to the whole message's: "can I swap them for a
  7.5? do I pay the postage?" asks two things, and each answer should make the list;
- when the message raises a support topic, two places are kept for policies and FAQs, so
  five pairs of boots cannot crowd out the exchange rules.

The candidates are the few dozen passages the index chose, so this costs little and scans
nothing else.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from taskra_core.knowledge.query import Concept, Query
from taskra_core.knowledge.synonyms import stem

# Beyond this, a passage is variant lists and small print; the description says what it is.
TEXT_CHARS = 1_500
TITLE_WEIGHT = 1.5
KEYWORD_WEIGHT = 0.75
TEXT_WEIGHT = 1.0
# A number names a product in its title ("Kestrel 400"); elsewhere it is a price or a size.
NUMBER_OUTSIDE_TITLE_WEIGHT = 0.2
PAIR_WEIGHT = 1.0
# Support topics (see Concept.topic) say what the customer wants done.
TOPIC_WEIGHT = 1.5
# Places kept for policies and FAQs when the message raises a support topic (see rank).
HELP_SLOTS = 2
K1 = 1.2
B = 0.3

_NON_WORD = re.compile(r"[\W_]+")
_COMBINING = re.compile(r"[\u0300-\u036f]")
# What may follow a stem: "exchang" finds "exchanged", "deliver" finds "delivery", but
# "cart" does not find "cartridge".
# What may follow a stem: "deliver" matches "delivers", "delivered", "delivery"...
_ENDING_SET = frozenset(
    {"", "e", "es", "s", "ed", "ing", "ings", "er", "ers", "y", "ies", "ied", "al", "als"}
    | {"ment", "ments", "ion", "ions", "ly", "able"}
)


@dataclass(frozen=True)
class Candidate:
    """A passage the index returned."""

    source_id: str
    title: str
    text: str
    keywords: str


@dataclass(frozen=True)
class Ranked:
    """A document chosen for the answer: its best passage and its fused score."""

    candidate: Candidate
    score: float


@dataclass(frozen=True)
class _Needle:
    """How to find one word or phrase in normalized text, and what a match is worth.

    ``parts`` are the words' keys, each whole (``True``: the word exactly) or a stem that may
    take one of ``_ENDINGS``. Matching walks the normalized text with ``str.find`` instead of
    a regular expression: compiling one per query word cost more than the whole search.
    """

    text: str
    parts: tuple[tuple[str, bool], ...] | None  # None: match ``text`` exactly
    weight: float
    number: bool

    def positions(self, text: str) -> list[int]:
        """Where each match in ``text`` starts (at the space before it), in order.

        A whole needle's matches do not overlap, as ``str.count`` counts them; a stem's match
        ends at a space that may open the next one. No match starts inside a word, so the
        search for the next one resumes at the end of the word just looked at.
        """
        found: list[int] = []
        if self.parts is None:
            step = len(self.text)
            position = text.find(self.text)
            while position != -1:
                found.append(position)
                position = text.find(self.text, position + step)
            return found
        first = " " + self.parts[0][0]
        position = text.find(first)
        if len(self.parts) == 1:  # most needles: one stem, then one of the endings
            after = len(first)
            while position != -1:
                end = text.find(" ", position + after)
                if end == -1:
                    break
                if text[position + after : end] in _ENDING_SET:
                    found.append(position)
                position = text.find(first, end)
            return found
        while position != -1:
            closing = self._match(text, position)
            if closing is None:
                position = text.find(first, position + 1)
            else:
                found.append(position)
                position = text.find(first, closing)
        return found

    def _match(self, field: str, position: int) -> int | None:
        """Where a match starting at ``position`` ends (before its closing space), or None."""
        assert self.parts is not None
        for key, whole in self.parts:
            if not field.startswith(" " + key, position):
                return None
            start = position + 1 + len(key)
            position = field.find(" ", start)
            if position == -1:
                return None
            ending = field[start:position]
            if ending and (whole or ending not in _ENDING_SET):
                return None
        return position


def rank(query: Query, candidates: Sequence[Candidate], k: int) -> list[Ranked]:
    """The ``k`` best documents among ``candidates``, one passage each, best first."""
    gains = _gains(query, candidates)
    concepts = len(query.concepts)
    views = [(tuple(range(concepts + len(query.pairs))), 1.0)]
    if len(query.segments) > 1:
        views += [((*s.concepts, *(concepts + p for p in s.pairs)), 1.0) for s in query.segments]
    everyone = range(len(candidates))
    fused, shown = _fuse(views, gains, candidates, everyone)
    chosen: list[str] = []
    topics = {i for i, concept in enumerate(query.concepts) if concept.topic}
    if topics and k > 1:
        helpful = [
            i for i in everyone if not _is_product(candidates[i]) and topics & gains[i].keys()
        ]
        chosen = _help_slots(views, gains, candidates, helpful, min(HELP_SLOTS, k // 2))
    chosen += [source for source in _best(fused) if source not in chosen]
    return [
        Ranked(candidates[shown[source][1]], round(fused[source], 6))
        for source in sorted(chosen[:k], key=lambda s: (-fused[s], s))
    ]


def _help_slots(
    views: list[tuple[tuple[int, ...], float]],
    gains: list[dict[int, float]],
    candidates: Sequence[Candidate],
    helpful: list[int],
    slots: int,
) -> list[str]:
    """The policies and FAQs for the kept places: the best overall, then the best answers
    to sentences the ones chosen do not already answer best (a message asking about sizes
    and about shipping to Spain gets the size guide and the shipping policy)."""
    overall, _ = _fuse(views, gains, candidates, helpful)
    tops = [_best(_fuse([view], gains, candidates, helpful)[0])[:1] for view in views]
    chosen: list[str] = []
    while len(chosen) < slots:
        unanswered = {top[0] for top in tops if top and top[0] not in chosen}
        pool = unanswered if chosen and unanswered else set(overall) - set(chosen)
        if not pool:
            break
        chosen.append(min(pool, key=lambda source: (-overall[source], source)))
        tops = [top for top in tops if not top or top[0] not in chosen]
    return chosen


def _best(scores: dict[str, float]) -> list[str]:
    return sorted(scores, key=lambda source: (-scores[source], source))


def _fuse(
    views: list[tuple[tuple[int, ...], float]],
    gains: list[dict[int, float]],
    candidates: Sequence[Candidate],
    among: Iterable[int],
) -> tuple[dict[str, float], dict[str, tuple[float, int]]]:
    """Each document's summed score over ``views`` (feature sets, each scaled so its best
    document scores its weight), counting only the candidates in ``among``; and, for each
    document, the passage (candidate index) that earned its largest share."""
    fused: dict[str, float] = {}
    shown: dict[str, tuple[float, int]] = {}
    members = [i for i in among if gains[i]]
    for features, weight in views:
        wanted = set(features)
        best: dict[str, tuple[float, int]] = {}  # a document's best passage in this view
        for i in members:
            value = sum(g for f, g in gains[i].items() if f in wanted)
            source = candidates[i].source_id
            if value > best.get(source, (0.0, -1))[0]:
                best[source] = (value, i)
        top = max((value for value, _ in best.values()), default=0.0)
        for source, (value, i) in best.items():
            share = weight * value / top
            fused[source] = fused.get(source, 0.0) + share
            if share > shown.get(source, (0.0, -1))[0]:
                shown[source] = (share, i)
    return fused, shown


def _is_product(candidate: Candidate) -> bool:
    return candidate.source_id.startswith("product:")


def _gains(query: Query, candidates: Sequence[Candidate]) -> list[dict[int, float]]:
    """For each candidate, what each concept (then each word pair) of ``query`` adds."""
    if not candidates:
        return []
    fields = [_fields(c) for c in candidates]
    average = sum(len(f[2]) for f in fields) / len(fields) or 1.0
    text_norms = [1 - B + B * len(f[2]) / average for f in fields]
    field_weights = (TITLE_WEIGHT, KEYWORD_WEIGHT, TEXT_WEIGHT)
    features = [_needles(c, TOPIC_WEIGHT if c.topic else 1.0) for c in query.concepts]
    features += [[_needle(pair, PAIR_WEIGHT)] for pair in query.pairs]
    gains: list[dict[int, float]] = [{} for _ in candidates]
    # All candidates in one string, each as its title, keywords and text one after another:
    # each needle walks it once, and a match's place says whose and which field it is in.
    blob = "\x00".join(f[3] for f in fields)
    starts = list(itertools.accumulate((len(f[3]) + 1 for f in fields[:-1]), initial=0))
    keywords_at = [start + len(f[0]) for start, f in zip(starts, fields, strict=True)]
    text_at = [at + len(f[1]) for at, f in zip(keywords_at, fields, strict=True)]
    for feature, needles in enumerate(features):
        # counts[i][field]: the best needle's weighted count in each field of candidate i
        counts: dict[int, list[float]] = {}
        for needle in needles:
            found: dict[int, list[float]] = {}
            for position in needle.positions(blob):
                i = bisect.bisect_right(starts, position) - 1
                field = 0 if position < keywords_at[i] else 1 if position < text_at[i] else 2
                tf = found.get(i)
                if tf is None:
                    tf = found[i] = [0.0, 0.0, 0.0]
                tf[field] += 1.0
            for i, tf in found.items():
                row = counts.setdefault(i, [0.0, 0.0, 0.0])
                if needle.number:
                    tf[1] *= NUMBER_OUTSIDE_TITLE_WEIGHT
                    tf[2] *= NUMBER_OUTSIDE_TITLE_WEIGHT
                for field in range(3):
                    row[field] = max(row[field], needle.weight * tf[field])
        counts = {i: row for i, row in counts.items() if any(row)}
        # Rarity per field among the candidates: a word in every product's small print can
        # still be rare in titles, and a title match on it then means something.
        idf = [
            _idf(len(candidates), sum(1 for row in counts.values() if row[field]))
            for field in range(3)
        ]
        for i, row in counts.items():
            gains[i][feature] = sum(
                field_weights[field] * idf[field] * _saturate(row[field], field, text_norms[i])
                for field in range(3)
                if row[field]
            )
    return gains


def _idf(total: int, df: int) -> float:
    return math.log(1 + (total - df + 0.5) / (df + 0.5))


def _saturate(tf: float, field: int, text_norm: float) -> float:
    """BM25's diminishing returns; only the long text field is normalized by length."""
    norm = text_norm if field == 2 else 1.0
    return tf * (K1 + 1) / (tf + K1 * norm)


def _fields(candidate: Candidate) -> tuple[str, str, str, str]:
    return _normalized_fields(candidate.title, candidate.keywords, candidate.text[:TEXT_CHARS])


# The same passages come back query after query, and normalizing them is most of the cost.
@functools.lru_cache(maxsize=4096)
def _normalized_fields(title: str, keywords: str, text: str) -> tuple[str, str, str, str]:
    fields = _normalize(title), _normalize(keywords), _normalize(text)
    return (*fields, "".join(fields))


def _normalize(value: str) -> str:
    """Folded words one space apart, with a space at each end: " key" finds a word start."""
    folded = value.lower().replace("'", "").replace("\u2019", "")
    if not folded.isascii():
        folded = _COMBINING.sub("", unicodedata.normalize("NFKD", folded))
    return f" {_NON_WORD.sub(' ', folded).strip()} "


@functools.lru_cache(maxsize=8192)
def _needle(term: str, weight: float) -> _Needle:
    """Short words and numbers match whole ("7" is not "75"); longer words by stem plus a
    common ending. A phrase matches its words in order."""
    parts = []
    for word in term.split():
        key = stem(word)
        whole = len(key) < 4 or word.isdigit()
        if not whole and key.endswith("y"):
            key = key[:-1]  # "delivery": "deliver" + "y", "ies", "ed"...
        parts.append((word if whole else key, whole))
    text = " " + " ".join(p for p, _ in parts)
    if all(whole for _, whole in parts):
        return _Needle(text + " ", None, weight, term.isdigit())
    return _Needle(text, tuple(parts), weight, False)


def _needles(concept: Concept, boost: float) -> list[_Needle]:
    """Each word of ``concept`` with its weight: the customer's own word counts fully."""
    return [
        _needle(term, boost * weight)
        for term, weight in zip(concept.words, concept.weights, strict=True)
    ]
