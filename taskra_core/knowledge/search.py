"""Searching a store's knowledge: the passages that best answer a customer's message.

The database does the work through its full-text index (SQLite FTS5 with BM25, PostgreSQL
tsvector with ``ts_rank_cd``; see migration 0003), so a search costs the same for ten
products as for ten thousand. Any query word may match (OR): customers paraphrase, and
requiring every word would find nothing for most real messages; ranking puts documents that
match more, rarer, better-placed words first. A document split into several passages is
returned once, represented by its best passage.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from taskra_core.errors import InvalidInput
from taskra_core.knowledge.query import Query, build_query, fts5_match, tsquery_match
from taskra_core.knowledge.ranking import Candidate, rank
from taskra_core.knowledge.synonyms import stem

MAX_K = 50
# See selective_terms.
MANY_PASSAGES = 2_000
COMMON_PASSAGES = 1_000
MIN_TERMS = 4
# How many passages the index hands to the re-ranker (see taskra_core.knowledge.ranking).
CANDIDATES = 48
# Enough of a passage to rank and quote it: a product's description comes before its variants.
TEXT_CHARS = 2_000
SNIPPET_CHARS = 200

# Column weights, title : text : keywords (: store_id, a filter that must not score). A word
# in a product's name or a FAQ's question says far more about what the document is than the
# same word in its prose.
_SQLITE_WEIGHTS = (4.0, 1.0, 2.0, 0.0)
_SQLITE_SQL = text(
    "SELECT p.source_id, p.title, substr(p.text, 1, {chars}) AS text, p.keywords,"
    " bm25(knowledge_fts, {w}) AS rank"
    " FROM knowledge_fts JOIN knowledge_passages AS p ON p.id = knowledge_fts.rowid"
    " WHERE knowledge_fts MATCH :match AND p.store_id = :store"
    " ORDER BY rank, p.id LIMIT :limit".format(
        chars=TEXT_CHARS, w=", ".join(map(str, _SQLITE_WEIGHTS))
    )
)
# ts_rank_cd weights are given in D, C, B, A order: text (C), keywords (B), title (A).
_POSTGRES_SQL = text(
    f"SELECT p.source_id, p.title, left(p.text, {TEXT_CHARS}) AS text, p.keywords,"
    " ts_rank_cd('{0.05, 0.25, 0.5, 1.0}', p.search_vector, q, 1) AS rank"
    " FROM knowledge_passages AS p, to_tsquery('english', :match) AS q"
    " WHERE p.store_id = :store AND p.search_vector @@ q"
    " ORDER BY rank DESC, p.id LIMIT :limit"
)


@dataclass(frozen=True)
class SearchHit:
    """One document that answers the query.

    ``score``: higher is better; comparable only within one result list.
    ``snippet``: about 200 characters of the best passage around the matched words.
    """

    source_id: str
    title: str
    score: float
    snippet: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def search_knowledge(
    session: AsyncSession, dialect: str, store_id: int, query: str | Query, k: int = 5
) -> list[SearchHit]:
    """The ``k`` best documents of store ``store_id`` for ``query``, best first.

    ``query`` is a customer's message (cleaned and expanded by
    :func:`~taskra_core.knowledge.query.build_query`) or an already built :class:`Query`.
    Raises :class:`InvalidInput` if ``k`` is not within 1..50 or nothing searchable is left.
    """
    if not 1 <= k <= MAX_K:
        raise InvalidInput(f"k must be between 1 and {MAX_K}, not {k}.")
    parsed = build_query(query) if isinstance(query, str) else query
    if not parsed.all_terms:
        raise InvalidInput("The query has no searchable words.")
    terms = await selective_terms(session, dialect, parsed.all_terms, store_id)
    params: dict[str, Any] = {"store": store_id, "limit": CANDIDATES}
    if not terms:
        return []
    if dialect == "postgresql":
        params["match"] = tsquery_match(terms)
        rows = (await session.execute(_POSTGRES_SQL, params)).all()
    else:
        params["match"] = _in_store(fts5_match(terms), store_id)
        rows = (await session.execute(_SQLITE_SQL, params)).all()
    candidates = [Candidate(r.source_id, r.title, r.text, r.keywords) for r in rows]
    return [
        SearchHit(
            source_id=item.candidate.source_id,
            title=item.candidate.title,
            score=round(item.score, 6),
            snippet=snippet(item.candidate.text, parsed),
        )
        for item in rank(parsed, candidates, k)
    ]


def _in_store(match: str, store_id: int) -> str:
    """Limit an FTS5 expression to one store's passages and to the searchable columns."""
    return f'store_id:"{int(store_id)}" AND {{title text keywords}}: ({match})'


async def selective_terms(
    session: AsyncSession, dialect: str, terms: Sequence[str], store_id: int
) -> list[str]:
    """The terms worth asking the index for.

    Ranking is the costly part of a full-text query, and it ranks every matching row: a
    query whose words match most of a big catalogue ("size", "jacket") would rank most of
    it. So when the whole query matches more than ``MANY_PASSAGES`` passages, only terms in
    fewer than ``COMMON_PASSAGES`` passages are kept (or at least the ``MIN_TERMS`` rarest).
    Common words barely change which passages rank first, and still count when the
    candidates are re-ranked. Every count stops at its limit, so probing stays cheap.
    """

    def match(some: Sequence[str]) -> str:
        if dialect == "sqlite":
            return _in_store(fts5_match(some), store_id)
        return tsquery_match(some)

    everything = [match(terms)]
    if (await _counts(session, dialect, everything, MANY_PASSAGES, store_id))[0] < MANY_PASSAGES:
        return list(terms)
    one_by_one = [match([t]) for t in terms]
    counts = await _counts(session, dialect, one_by_one, COMMON_PASSAGES, store_id)
    found = sorted((n, i) for i, n in enumerate(counts) if n)
    keep = {i for n, i in found if n < COMMON_PASSAGES} | {i for _, i in found[:MIN_TERMS]}
    return [term for i, term in enumerate(terms) if i in keep]


async def _counts(
    session: AsyncSession, dialect: str, matches: list[str], cap: int, store_id: int
) -> list[int]:
    """How many of the store's passages each of ``matches`` finds, counting up to ``cap``;
    one round trip for all."""
    if dialect == "postgresql":
        probe = (
            "SELECT count(*) FROM (SELECT 1 FROM knowledge_passages"
            " WHERE store_id = :store AND search_vector @@ to_tsquery('english', :m{i})"
            " LIMIT :cap) AS matched"
        )
    else:
        probe = (
            "SELECT count(*) FROM (SELECT 1 FROM knowledge_fts"
            " WHERE knowledge_fts MATCH :m{i} LIMIT :cap) AS matched"
        )
    sql = " UNION ALL ".join(
        f"SELECT {i} AS i, ({probe.format(i=i)}) AS n" for i in range(len(matches))
    )
    params: dict[str, Any] = {f"m{i}": match for i, match in enumerate(matches)}
    rows = (await session.execute(text(sql), {**params, "cap": cap, "store": store_id})).all()
    by_index: dict[int, int] = {int(i): int(n) for i, n in rows}
    return [int(by_index[i]) for i in range(len(matches))]


@functools.lru_cache(maxsize=1024)
def _words_pattern(stems: frozenset[str]) -> re.Pattern[str]:
    longest_first = sorted(stems, key=lambda s: (-len(s), s))
    return re.compile(r"\b(" + "|".join(map(re.escape, longest_first)) + ")", re.IGNORECASE)


def snippet(passage: str, query: Query, size: int = SNIPPET_CHARS) -> str:
    """About ``size`` characters of ``passage`` around the most query words, cut at spaces."""
    flat = " ".join(passage.split())
    if len(flat) <= size:
        return flat
    # Words starting with a query word's stem ("deliver" finds "Delivery"), whole words only
    # at the start.
    pattern = _words_pattern(frozenset(stem(w) for t in query.all_terms for w in t.split()))
    positions = [(m.start(), m.group(1).lower()) for m in pattern.finditer(flat)]
    start = 0
    best = 0
    for begin, _ in positions:
        covered = len({word for pos, word in positions if begin <= pos < begin + size - 20})
        if covered > best:
            best, start = covered, max(0, begin - 30)
    start = min(start, len(flat) - size)
    if start > 0:
        start = flat.find(" ", start) + 1 or start
    end = start + size
    if end < len(flat) and " " in flat[start:end]:
        end = flat.rfind(" ", start, end)
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(flat) else ""
    return f"{prefix}{flat[start:end].strip()}{suffix}"
