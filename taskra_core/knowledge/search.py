"""Searching a store's knowledge: the passages that best answer a customer's message.

The database does the work through its full-text index (SQLite FTS5 with BM25, PostgreSQL
tsvector with ``ts_rank``; see migrations 0003 and 0005). Any query word may match (OR):
customers paraphrase, and requiring every word would find nothing for most real messages;
ranking puts documents that match more, rarer, better-placed words first. A document split
into several passages is returned once, represented by its best passage.

Ranking costs the database a little for every passage that matches, so on a big catalogue
the index is asked only for the words rare enough to single documents out (see
:func:`selective_terms`): a search in ten thousand products then costs little more than one
in a hundred.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Text

from taskra_core.errors import InvalidInput
from taskra_core.knowledge.query import Query, build_query, fts5_match, tsquery_match
from taskra_core.knowledge.ranking import Candidate, Ranked, rank
from taskra_core.knowledge.synonyms import stem
from taskra_core.knowledge.term_counts import TermCounts

MAX_K = 50
# See selective_terms.
MANY_PASSAGES = 2_000
COMMON_PASSAGES = 500
# Passages the index may rank for one search, by database: a few milliseconds' work for
# each. PostgreSQL reads a passage's table row to rank it, about 4 microseconds a passage
# against 1.5 for FTS5.
RANKED_PASSAGES = {"sqlite": 1_500, "postgresql": 1_000}
MIN_TERMS = 4
# How many passages the index hands to the re-ranker (see taskra_core.knowledge.ranking).
CANDIDATES = 48
# Enough of a passage to rank and quote it: a product's description comes before its variants.
TEXT_CHARS = 2_000
SNIPPET_CHARS = 200
# Pages of FTS5 index merged after a bulk change: all of a 20,000-passage index, in about
# 0.2 s; a bigger one is merged that far and left to FTS5's automerge for the rest.
MERGE_PAGES = 4_000

# Both queries rank inside a subquery and join the table afterwards, so only the chosen
# passages are read, not every match. The outer store check repeats the index's: no other
# store's row can come back whatever the index holds.
#
# Column weights, title : text : keywords (: store_id, a filter that must not score). A word
# in a product's name or a FAQ's question says far more about what the document is than the
# same word in its prose.
_SQLITE_WEIGHTS = (4.0, 1.0, 2.0, 0.0)
_SQLITE_TEMPLATE = (
    "SELECT p.source_id, p.title, substr(p.text, 1, {chars}) AS text, p.keywords"
    " FROM (SELECT rowid AS id, bm25(knowledge_fts, {w}) AS rank FROM knowledge_fts"
    " WHERE knowledge_fts MATCH :match{newest} ORDER BY rank, rowid LIMIT :limit) AS hit"
    " JOIN knowledge_passages AS p ON p.id = hit.id"
    " WHERE p.store_id = :store ORDER BY hit.rank, p.id"
)
_SQLITE_SQL = text(
    _SQLITE_TEMPLATE.format(chars=TEXT_CHARS, w=", ".join(map(str, _SQLITE_WEIGHTS)), newest="")
)
# A query of common words only ("what size should I get?") matches thousands of passages
# whatever words are chosen, and any of them answers about as well: then only the newest
# RANKED_PASSAGES of them are ranked, found by walking the matches backwards in rowid order,
# which costs FTS5 far less than ranking them. (Not when a rare word is in the query too:
# the passages it finds may be older.)
_SQLITE_NEWEST_SQL = text(
    _SQLITE_TEMPLATE.format(
        chars=TEXT_CHARS,
        w=", ".join(map(str, _SQLITE_WEIGHTS)),
        newest=" AND rowid >= coalesce((SELECT rowid FROM knowledge_fts"
        " WHERE knowledge_fts MATCH :match ORDER BY rowid DESC LIMIT 1 OFFSET :newest), 0)",
    )
)
# Weights are given in D, C, B, A order: text (C), keywords (B), title (A). ts_rank, not
# ts_rank_cd: the cover density costs ten times as much per passage for a query of a dozen
# words, and the candidates are re-ranked anyway.
_POSTGRES_SQL = text(
    f"SELECT p.source_id, p.title, left(p.text, {TEXT_CHARS}) AS text, p.keywords"
    " FROM (SELECT id, ts_rank('{0.05, 0.25, 0.5, 1.0}', search_vector, q, 1) AS rank"
    " FROM knowledge_passages, to_tsquery('english', :match) AS q"
    " WHERE store_id = :store AND search_vector @@ q"
    " ORDER BY rank DESC, id LIMIT :limit) AS hit"
    " JOIN knowledge_passages AS p ON p.id = hit.id"
    " WHERE p.store_id = :store ORDER BY hit.rank DESC, p.id"
)
# PostgreSQL: how many passages the store has and what share of all passages each term is
# in, both from the planner's statistics (pg_class, pg_stats; refreshed by ANALYZE): the
# store's share of rows among the commonest store ids, and each lexeme's share among the
# commonest lexemes (those in about one passage in a hundred or more). A phrase is as rare
# as its rarest word; -1: the term has no searchable word (only stop words).
_POSTGRES_ESTIMATES_SQL = text(
    "WITH store AS MATERIALIZED (SELECT greatest(c.reltuples, 0) * coalesce("
    "s.most_common_freqs[array_position(s.most_common_vals::text::bigint[],"
    " CAST(:store AS bigint))], 0) AS n"
    " FROM pg_class AS c LEFT JOIN pg_stats AS s ON s.schemaname = current_schema()"
    " AND s.tablename = 'knowledge_passages' AND s.attname = 'store_id'"
    " WHERE c.oid = 'knowledge_passages'::regclass),"
    " words AS MATERIALIZED (SELECT w.lexeme, w.share FROM pg_stats,"
    " unnest(most_common_elems::text::text[], most_common_elem_freqs) AS w(lexeme, share)"
    " WHERE schemaname = current_schema() AND tablename = 'knowledge_passages'"
    " AND attname = 'search_vector' AND w.lexeme IS NOT NULL)"
    " SELECT t.i, min(store.n) AS passages, CASE WHEN count(l.lexeme) = 0 THEN -1"
    " ELSE min(coalesce(words.share, 0)) END AS share"
    " FROM unnest(:terms) WITH ORDINALITY AS t(term, i) CROSS JOIN store"
    " LEFT JOIN LATERAL unnest(tsvector_to_array(to_tsvector('english', t.term)))"
    " AS l(lexeme) ON true LEFT JOIN words ON words.lexeme = l.lexeme GROUP BY t.i"
).bindparams(bindparam("terms", type_=ARRAY(Text())))


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
    session: AsyncSession,
    dialect: str,
    store_id: int,
    query: str | Query,
    k: int = 5,
    *,
    counts: TermCounts | None = None,
) -> list[SearchHit]:
    """The ``k`` best documents of store ``store_id`` for ``query``, best first.

    ``query`` is a customer's message (cleaned and expanded by
    :func:`~taskra_core.knowledge.query.build_query`) or an already built :class:`Query`.
    ``counts`` keeps term counts between searches (see :mod:`.term_counts`).
    Raises :class:`InvalidInput` if ``k`` is not within 1..50 or nothing searchable is left.
    """
    parsed = build_query(query) if isinstance(query, str) else query
    return [
        SearchHit(
            source_id=item.candidate.source_id,
            title=item.candidate.title,
            score=round(item.score, 6),
            snippet=snippet(item.candidate.text, parsed),
        )
        for item in await best_documents(session, dialect, store_id, parsed, k, counts=counts)
    ]


async def best_documents(
    session: AsyncSession,
    dialect: str,
    store_id: int,
    query: str | Query,
    k: int = 5,
    *,
    counts: TermCounts | None = None,
) -> list[Ranked]:
    """:func:`search_knowledge` without the snippets, for a caller that reads the documents
    themselves (drafting): each document's best passage and its score."""
    if not 1 <= k <= MAX_K:
        raise InvalidInput(f"k must be between 1 and {MAX_K}, not {k}.")
    parsed = build_query(query) if isinstance(query, str) else query
    if not parsed.all_terms:
        raise InvalidInput("The query has no searchable words.")
    terms, only_common = await _select_terms(session, dialect, parsed.all_terms, store_id, counts)
    params: dict[str, Any] = {"store": store_id, "limit": CANDIDATES}
    if not terms:
        return []
    if dialect == "postgresql":
        # No cheap way to take the newest matches here: the table would be read backwards
        # past other stores' rows, which costs as much as ranking.
        params["match"] = tsquery_match(terms)
        rows = (await session.execute(_POSTGRES_SQL, params)).all()
    else:
        params["match"] = _in_store(fts5_match(terms), store_id)
        if only_common:
            params["newest"] = RANKED_PASSAGES[dialect] - 1
        sql = _SQLITE_NEWEST_SQL if only_common else _SQLITE_SQL
        rows = (await session.execute(sql, params)).all()
    # By position (both queries select the fields in Candidate's order): looking each up by
    # name cost more than building the candidates.
    candidates = [Candidate(*row) for row in rows]
    return rank(parsed, candidates, k)


async def optimize_index(session: AsyncSession, dialect: str) -> None:
    """Keep searches fast after many passages changed (the importer calls it).

    A bulk insert leaves FTS5 with many small segments, and every query looks each word up
    in each of them: merging them halves the cost of a search on a big catalogue.
    PostgreSQL gets its GIN index's pending entries merged, and fresh statistics, which
    :func:`selective_terms` and the planner read to tell common words from rare ones.
    """
    if dialect == "postgresql":
        # The index's pending list, merged now rather than scanned by every search.
        await session.execute(
            text("SELECT gin_clean_pending_list('ix_knowledge_passages_store_search'::regclass)")
        )
        await session.execute(text("ANALYZE knowledge_passages"))
    else:
        await session.execute(
            text("INSERT INTO knowledge_fts(knowledge_fts, rank) VALUES ('merge', :pages)"),
            {"pages": -MERGE_PAGES},
        )


def _in_store(match: str, store_id: int) -> str:
    """Limit an FTS5 expression to one store's passages and to the searchable columns."""
    return f'store_id:"{int(store_id)}" AND {{title text keywords}}: ({match})'


async def selective_terms(
    session: AsyncSession,
    dialect: str,
    terms: Sequence[str],
    store_id: int,
    counts: TermCounts | None = None,
) -> list[str]:
    """The terms worth asking the index for.

    Ranking is the costly part of a full-text query, and it ranks every matching passage:
    a query whose words match most of a big catalogue ("size", "jacket") would rank most of
    it. So in a store of ``MANY_PASSAGES`` passages or more, terms are taken rarest first
    while the passages they match add up to at most ``RANKED_PASSAGES``, leaving out any
    in ``COMMON_PASSAGES`` or more (but always taking the ``MIN_TERMS`` rarest). Rare words
    are the ones that single a document out; common ones barely change which passages rank
    first, and still count when the candidates are re-ranked. Terms that match nothing are
    left out.
    """
    return (await _select_terms(session, dialect, terms, store_id, counts))[0]


async def _select_terms(
    session: AsyncSession,
    dialect: str,
    terms: Sequence[str],
    store_id: int,
    kept_counts: TermCounts | None = None,
) -> tuple[list[str], bool]:
    """:func:`selective_terms`, and whether every term kept is common (kept only to have
    ``MIN_TERMS``): then nothing narrows the search, and the passages they match are
    counted only up to ``COMMON_PASSAGES`` each."""
    if not terms:
        return [], False
    counts = await _counts(session, dialect, terms, store_id, kept_counts)
    if counts is None:
        return list(terms), False
    budget = RANKED_PASSAGES[dialect]
    kept: set[int] = set()
    ranked = 0
    for n, i in sorted((n, i) for i, n in enumerate(counts) if n):
        if len(kept) >= MIN_TERMS and (n >= COMMON_PASSAGES or ranked + n > budget):
            break
        kept.add(i)
        ranked += n
    common = all(counts[i] >= COMMON_PASSAGES for i in kept)
    return [term for i, term in enumerate(terms) if i in kept], bool(kept) and common


async def _counts(
    session: AsyncSession,
    dialect: str,
    terms: Sequence[str],
    store_id: int,
    kept: TermCounts | None,
) -> list[int] | None:
    """How many of the store's passages each term matches, up to ``COMMON_PASSAGES``;
    ``None`` for a store too small to need counting. Only what ``kept`` lacks is counted."""
    # A word can come twice: as the customer's own and as another word's synonym.
    unique = list(dict.fromkeys(terms))
    small = kept.store_is_small(store_id) if kept is not None else None
    if small:
        return None
    by_term = kept.known(store_id, unique) if kept is not None else {}
    missing = [term for term in unique if term not in by_term]
    if missing or small is None:
        count = _estimated_counts if dialect == "postgresql" else _sqlite_counts
        # Never an empty list: the store's size comes back beside the terms' counts.
        counted = await count(session, missing or unique, store_id)
        if kept is not None:
            kept.remember(store_id, counted is None, counted or {})
        if counted is None:
            return None
        by_term |= counted
    return [by_term[term] for term in terms]


async def _sqlite_counts(
    session: AsyncSession, terms: Sequence[str], store_id: int
) -> dict[str, int] | None:
    """SQLite's counts of ``terms`` (distinct), each up to ``COMMON_PASSAGES``; ``None``
    for a store of fewer than ``MANY_PASSAGES`` passages."""
    # One round trip (each costs about as much as a small query): the store's size, counted
    # up to MANY_PASSAGES, then each term's count, left out (NULL) if the store is smaller.
    # Every count stops at its cap, so even a common word is cheap to count.
    probe = (
        "CASE WHEN (SELECT n FROM store) < :many THEN NULL ELSE (SELECT count(*) FROM"
        " (SELECT 1 FROM knowledge_fts WHERE knowledge_fts MATCH :m{i} LIMIT :cap)) END"
    )
    sql = (
        "WITH store AS MATERIALIZED (SELECT count(*) AS n FROM (SELECT 1"
        " FROM knowledge_passages WHERE store_id = :store LIMIT :many))"
        " SELECT -1 AS i, n FROM store"
    )
    sql += "".join(f" UNION ALL SELECT {i}, {probe.format(i=i)}" for i in range(len(terms)))
    params: dict[str, Any] = {
        f"m{i}": _in_store(fts5_match([term]), store_id) for i, term in enumerate(terms)
    }
    params |= {"store": store_id, "many": MANY_PASSAGES, "cap": COMMON_PASSAGES}
    counts = {int(i): n for i, n in (await session.execute(text(sql), params)).all()}
    if counts[-1] < MANY_PASSAGES:
        return None
    return {term: int(counts[i]) for i, term in enumerate(terms)}


async def _estimated_counts(
    session: AsyncSession, terms: Sequence[str], store_id: int
) -> dict[str, int] | None:
    """PostgreSQL's counts, estimated as its planner does: counting in the index would build
    a bitmap and visit the table for every term, which on a big catalogue costs more than
    the search itself. Without statistics yet (a new table), and for a store too small to
    be among the commonest store ids, every term is searched, as in a small store."""
    params = {"store": store_id, "terms": list(terms)}
    rows = (await session.execute(_POSTGRES_ESTIMATES_SQL, params)).all()
    passages = float(rows[0].passages)
    if passages < MANY_PASSAGES:
        return None
    shares = {int(row.i) - 1: float(row.share) for row in rows}
    counts = {}
    for i, term in enumerate(terms):
        if shares[i] < 0:
            counts[term] = 0  # only stop words: matches nothing
        else:
            # A word rarer than the statistics track still matches a passage or so.
            counts[term] = min(max(1, math.ceil(shares[i] * passages)), COMMON_PASSAGES)
    return counts


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
