"""Knowledge search: a customer's message finds the store's documents that answer it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import delete, event, update
from sqlmodel import col

from taskra_core.app import Taskra
from taskra_core.cli_support import CliState
from taskra_core.demo import FELLANDFORD
from taskra_core.errors import InvalidInput, NotFound
from taskra_core.knowledge import search as search_module
from taskra_core.knowledge.cli import knowledge
from taskra_core.knowledge.importer import import_store
from taskra_core.knowledge.query import build_query, clean_message
from taskra_core.knowledge.ranking import Candidate, rank
from taskra_core.knowledge.search import SearchHit, optimize_index, selective_terms
from taskra_core.knowledge.service import Knowledge, resolve_store_id
from taskra_core.knowledge.term_counts import TermCounts
from taskra_core.models import KnowledgeItem, KnowledgePassage, Store
from taskra_core.plugins import make_plugin_manager
from taskra_core.testing import make_test_settings, make_test_taskra

NOW = datetime(2025, 3, 17, 10, 0, tzinfo=UTC)
DOMAIN = "peakandpine.myshopify.com"


async def add_store(taskra: Taskra, domain: str = DOMAIN, **fields: Any) -> int:
    """A store row; returns its id."""
    async with taskra.db.transaction() as session:
        store = Store(domain=domain, created_at=NOW, updated_at=NOW, **fields)
        session.add(store)
        await session.flush()
        assert store.id is not None
        return store.id


async def add_doc(
    taskra: Taskra,
    store_id: int,
    source_id: str,
    title: str,
    *texts: str,
    keywords: str = "",
) -> None:
    """A knowledge item with one passage per text (all keeping the item's source id)."""
    kind = source_id.split(":", 1)[0]
    async with taskra.db.transaction() as session:
        item = KnowledgeItem(
            store_id=store_id,
            source_id=source_id,
            kind=kind,
            title=title,
            body="\n\n".join(texts),
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(item)
        await session.flush()
        assert item.id is not None
        for ordinal, text in enumerate(texts):
            session.add(
                KnowledgePassage(
                    store_id=store_id,
                    item_id=item.id,
                    source_id=source_id,
                    ordinal=ordinal,
                    title=title,
                    text=f"{title}\n\n{text}",
                    keywords=keywords,
                )
            )


OUTDOOR_SHOP: Sequence[tuple[str, str, str, str]] = (
    (
        "product:ridgeback-jacket",
        "Ridgeback Waterproof Jacket",
        "A three-layer waterproof shell for wet hill days, with taped seams and a wired hood.",
        "Waterproof Jackets mens waterproof",
    ),
    (
        "product:ember-down-jacket",
        "Ember Down Jacket",
        "Light, packable warmth from 800-fill down for cold, dry evenings in camp.",
        "Insulated Jackets down",
    ),
    (
        "product:lantern-2-tent",
        "Lantern 2 Tent",
        "A two-person backpacking tent. Packed size 45 x 15cm, weight 1.9kg.",
        "Tents backpacking",
    ),
    (
        "product:glow-headtorch",
        "Glow 300 Headtorch",
        "300 lumens, runs on three AAA batteries or the rechargeable pack.",
        "Headtorches",
    ),
    (
        "policy:REFUND_POLICY",
        "Returns & Refunds",
        "Items may be returned within 30 days of delivery for a full refund or an exchange.",
        "refund policy",
    ),
    (
        "policy:SHIPPING_POLICY",
        "Shipping & Delivery",
        "Standard delivery takes 2-3 working days and is free on orders over £50.",
        "shipping policy",
    ),
    (
        "faq:exchanges",
        "Can I exchange something for a different size?",
        "Yes: start an exchange in the returns portal and pick the new size.",
        "exchanges",
    ),
)


async def outdoor_shop(taskra: Taskra, domain: str = DOMAIN) -> int:
    store_id = await add_store(taskra, domain)
    for source_id, title, text, keywords in OUTDOOR_SHOP:
        await add_doc(taskra, store_id, source_id, title, text, keywords=keywords)
    return store_id


def ids(hits: list[SearchHit]) -> list[str]:
    return [hit.source_id for hit in hits]


async def test_a_paraphrase_finds_the_right_product(taskra: Taskra) -> None:
    """No product name given: "keeps me dry in heavy rain" still ranks the waterproof first."""
    await outdoor_shop(taskra)
    hits = await Knowledge(taskra).search(DOMAIN, "I need something that keeps me dry in rain")
    assert ids(hits)[0] == "product:ridgeback-jacket"
    assert "waterproof" in hits[0].snippet.lower()


async def test_a_product_name_beats_generic_words(taskra: Taskra) -> None:
    """Naming the product ("the glow 300") puts it first, whatever else the message says."""
    await outdoor_shop(taskra)
    message = "hiya does the glow 300 take normal batteries?? going camping for a week"
    hits = await Knowledge(taskra).search(DOMAIN, message)
    assert ids(hits)[0] == "product:glow-headtorch"


def test_greetings_sign_offs_quotes_and_signatures_are_dropped() -> None:
    """Only the question is left of an email with greeting, sign-off, signature and quote."""
    message = (
        "Hi there,\n\nWhere do I find the returns form?\n\nMany thanks,\nJane\n"
        "-- \nJane Smith | Acme Ltd\nSent from my iPhone\n\n"
        "On Mon, 3 Mar 2025, Peak & Pine <hello@example.com> wrote:\n> Your order has shipped"
    )
    assert clean_message(message) == "Where do I find the returns form?"
    assert build_query(message).terms == ("returns", "form")


async def test_a_signature_does_not_pull_in_documents(taskra: Taskra) -> None:
    """A name or company in the signature is not searched for."""
    store_id = await outdoor_shop(taskra)
    await add_doc(taskra, store_id, "product:acme-stove", "Acme Stove", "A gas stove.")
    message = "Hello,\n\nCan I return a tent?\n\nKind regards,\nSam Acme\n--\nAcme Stove Repairs"
    hits = await Knowledge(taskra).search(DOMAIN, message)
    assert "product:acme-stove" not in ids(hits)
    assert "policy:REFUND_POLICY" in ids(hits)


async def test_synonyms_bridge_the_customers_words_and_the_stores(taskra: Taskra) -> None:
    """ "Send them back" finds "returned"; "postage" finds "delivery"; "swap" finds "exchange"."""
    await outdoor_shop(taskra)
    knowledge = Knowledge(taskra)
    assert ids(await knowledge.search(DOMAIN, "can I send them back?"))[0] == (
        "policy:REFUND_POLICY"
    )
    assert ids(await knowledge.search(DOMAIN, "how much is postage"))[0] == (
        "policy:SHIPPING_POLICY"
    )
    assert "faq:exchanges" in ids(await knowledge.search(DOMAIN, "could I swap it", k=2))


async def test_policies_keep_places_next_to_many_matching_products(taskra: Taskra) -> None:
    """A returns question about a product that has many siblings still gets the policy."""
    store_id = await outdoor_shop(taskra)
    for size in range(6):
        await add_doc(
            taskra,
            store_id,
            f"product:trail-boot-{size}",
            f"Trail Boot {size}",
            "A leather walking boot, waterproof, true to size. Boots and socks, fitted.",
        )
    message = "My trail boots are too small. Can I swap them for a bigger size?"
    hits = await Knowledge(taskra).search(DOMAIN, message)
    assert "faq:exchanges" in ids(hits)
    assert any(source.startswith("product:trail-boot") for source in ids(hits))


@pytest.mark.parametrize(
    "query",
    [
        'tent" OR "jacket',
        "tent*",
        "NEAR(tent jacket)",
        "tent OR jacket",
        "-tent",
        "title: tent",
        "tent AND NOT jacket",
        "(tent",
        "tent & !jacket | <-> :*",
        "'tent':A",
    ],
)
async def test_search_syntax_is_searched_for_never_obeyed(taskra: Taskra, query: str) -> None:
    """FTS5 and tsquery operators typed by a customer are plain words, never syntax."""
    await outdoor_shop(taskra)
    hits = await Knowledge(taskra).search(DOMAIN, query)
    assert "product:lantern-2-tent" in ids(hits)


@pytest.mark.parametrize("query", ['"', "*", "NEAR(", "OR", "-", ":", "AND NOT", "^{}[]"])
async def test_operators_alone_are_safe(taskra: Taskra, query: str) -> None:
    """Bare operators give InvalidInput (nothing to search) or plain-word results, never a
    database error."""
    await outdoor_shop(taskra)
    try:
        hits = await Knowledge(taskra).search(DOMAIN, query)
    except InvalidInput:
        return
    assert all(hit.source_id for hit in hits)


@pytest.mark.parametrize("query", ['"*:()-', "", "   ", "Hi!\n\nThanks", "?!", "the and of"])
async def test_nothing_searchable_is_invalid_input(taskra: Taskra, query: str) -> None:
    """Punctuation, an empty message, only a greeting or only stop words: InvalidInput."""
    await outdoor_shop(taskra)
    with pytest.raises(InvalidInput):
        await Knowledge(taskra).search(DOMAIN, query)


async def test_another_stores_documents_are_never_returned(taskra: Taskra) -> None:
    """Two stores with the same source ids: each search sees only its own store's rows."""
    await outdoor_shop(taskra)
    other = await add_store(taskra, "other.myshopify.com")
    await add_doc(taskra, other, "product:lantern-2-tent", "Other Shop Tent", "A tent, packed.")
    await add_doc(taskra, other, "product:only-there", "Tent Pegs", "Tent pegs for any tent.")
    hits = await Knowledge(taskra).search(DOMAIN, "tent packed size", k=50)
    assert "Other Shop Tent" not in [hit.title for hit in hits]
    assert "product:only-there" not in ids(hits)
    theirs = await Knowledge(taskra).search(other, "tent packed size", k=50)
    assert sorted(ids(theirs)) == ["product:lantern-2-tent", "product:only-there"]


async def test_a_document_comes_back_once_with_its_best_passage(taskra: Taskra) -> None:
    """A policy cut into passages is one hit, quoting the passage that matches best."""
    store_id = await add_store(taskra)
    await add_doc(
        taskra,
        store_id,
        "policy:REFUND_POLICY",
        "Returns & Refunds",
        "Returns are accepted within 30 days of delivery.",
        "Refunds go back to your card within 5 working days of your return arriving.",
        "Returns from abroad are at your own cost; refunds exclude the original postage.",
    )
    hits = await Knowledge(taskra).search(DOMAIN, "when will my refund reach my card?")
    assert ids(hits) == ["policy:REFUND_POLICY"]
    assert "card within 5 working days" in hits[0].snippet


async def test_k_must_be_between_1_and_50(taskra: Taskra) -> None:
    """k=0 and k=51 are refused; k bounds the number of hits."""
    await outdoor_shop(taskra)
    knowledge = Knowledge(taskra)
    for k in (0, 51, -1):
        with pytest.raises(InvalidInput, match="between 1 and 50"):
            await knowledge.search(DOMAIN, "jacket", k=k)
    assert len(await knowledge.search(DOMAIN, "jacket", k=1)) == 1
    assert len(await knowledge.search(DOMAIN, "jacket tent delivery refund", k=50)) <= 50


async def test_hits_have_decreasing_scores_and_a_short_snippet(taskra: Taskra) -> None:
    """Scores go down the list; snippets are about 200 characters; as_dict has the fields."""
    store_id = await outdoor_shop(taskra)
    await add_doc(
        taskra,
        store_id,
        "faq:long",
        "A long answer about jacket care",
        "Filler sentence about nothing in particular. " * 20
        + "Wash your waterproof jacket at 30 degrees with a technical cleaner. "
        + "More filler text that says nothing. " * 20,
    )
    hits = await Knowledge(taskra).search(DOMAIN, "how do I wash my waterproof jacket", k=10)
    scores = [hit.score for hit in hits]
    assert scores == sorted(scores, reverse=True)
    long = next(hit for hit in hits if hit.source_id == "faq:long")
    assert "technical cleaner" in long.snippet
    assert len(long.snippet) <= 210
    assert set(hits[0].as_dict()) == {"source_id", "title", "score", "snippet"}


async def test_the_index_follows_edits_and_deletes(taskra: Taskra) -> None:
    """Changing or deleting a passage changes what search finds (triggers / generated column)."""
    store_id = await outdoor_shop(taskra)
    knowledge = Knowledge(taskra)
    async with taskra.db.transaction() as session:
        await session.execute(
            update(KnowledgePassage)
            .where(col(KnowledgePassage.source_id) == "product:lantern-2-tent")
            .values(text="Lantern 2 Tent\n\nNow with a porch for muddy boots.")
        )
    assert ids(await knowledge.search(store_id, "porch", k=3)) == ["product:lantern-2-tent"]
    async with taskra.db.transaction() as session:
        await session.execute(
            delete(KnowledgePassage).where(
                col(KnowledgePassage.source_id) == "product:lantern-2-tent"
            )
        )
    assert await knowledge.search(store_id, "porch", k=3) == []


async def big_catalogue(taskra: Taskra, monkeypatch: pytest.MonkeyPatch) -> int:
    """The outdoor shop plus six jackets, with the limits shrunk so that it counts as a big
    catalogue in which "jacket" is a common word; returns the store id."""
    store_id = await outdoor_shop(taskra)
    for n in range(6):
        await add_doc(taskra, store_id, f"product:jacket-{n}", f"Jacket {n}", "A jacket.")
    monkeypatch.setattr(search_module, "MANY_PASSAGES", 5)
    monkeypatch.setattr(search_module, "COMMON_PASSAGES", 5)
    monkeypatch.setattr(search_module, "MIN_TERMS", 1)
    # As the importer does after a bulk import: PostgreSQL estimates how common a word is
    # from the statistics this refreshes.
    async with taskra.db.transaction() as session:
        await optimize_index(session, taskra.db.dialect)
    return store_id


async def test_very_common_words_are_left_to_the_ranking(
    taskra: Taskra, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a big catalogue a word in most passages is not sent to the index; rare ones are."""
    store_id = await big_catalogue(taskra, monkeypatch)
    async with taskra.db.session() as session:
        terms = await selective_terms(session, taskra.db.dialect, ["jacket", "ridgeback"], store_id)
    assert terms == ["ridgeback"]
    hits = await Knowledge(taskra).search(store_id, "ridgeback jacket")
    assert ids(hits)[0] == "product:ridgeback-jacket"


async def test_a_query_of_common_words_only_ranks_the_newest_matches_on_sqlite(
    taskra: Taskra, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When every word of a query is common, SQLite ranks only the newest passages they match
    (as many as the index may rank); another store's never come back."""
    if taskra.db.dialect != "sqlite":
        pytest.skip("PostgreSQL ranks every match: it has no cheap way to take the newest")
    store_id = await outdoor_shop(taskra)
    other = await add_store(taskra, "other.myshopify.com")
    for n in range(6):
        await add_doc(taskra, store_id, f"product:jacket-{n}", f"Jacket {n}", "A jacket.")
    await add_doc(taskra, other, "product:their-jacket", "Their Jacket", "A jacket.")
    monkeypatch.setattr(search_module, "MANY_PASSAGES", 5)
    monkeypatch.setattr(search_module, "COMMON_PASSAGES", 5)
    monkeypatch.setattr(search_module, "RANKED_PASSAGES", {"sqlite": 3})
    hits = await Knowledge(taskra).search(store_id, "jacket", k=10)
    assert sorted(ids(hits)) == ["product:jacket-3", "product:jacket-4", "product:jacket-5"]
    monkeypatch.setattr(search_module, "RANKED_PASSAGES", {"sqlite": 100})
    assert len(await Knowledge(taskra).search(store_id, "jacket", k=10)) == 8


async def test_the_store_can_be_given_as_row_domain_or_id(taskra: Taskra) -> None:
    """Store, domain and id find the same; an unknown domain is NotFound."""
    store_id = await outdoor_shop(taskra)
    knowledge = Knowledge(taskra)
    async with taskra.db.session() as session:
        store = await session.get(Store, store_id)
    assert store is not None
    expected = ids(await knowledge.search(DOMAIN, "tent"))
    assert ids(await knowledge.search(store, "tent")) == expected
    assert ids(await knowledge.search(store_id, "tent")) == expected
    with pytest.raises(NotFound):
        await knowledge.search("nowhere.myshopify.com", "tent")


def run_cli(database_url: str, *args: str) -> Result:
    settings = make_test_settings(database_url)
    pm = make_plugin_manager(load_entrypoints=False)
    group = click.Group(commands={"knowledge": knowledge})
    return CliRunner().invoke(group, ["knowledge", *args], obj=CliState(settings, pm))


def seed(database_url: str) -> None:
    async def go() -> None:
        async with make_test_taskra(database_url) as taskra:
            await outdoor_shop(taskra)

    asyncio.run(go())


def test_cli_search_prints_hits_as_json_and_text(database_url: str) -> None:
    """`knowledge search --json` lists source_id/title/score/snippet; plain output numbers them."""
    seed(database_url)
    result = run_cli(database_url, "search", "--shop", DOMAIN, "-k", "2", "--json", "tent size?")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert len(hits) <= 2
    assert hits[0]["source_id"] == "product:lantern-2-tent"
    assert set(hits[0]) == {"source_id", "title", "score", "snippet"}
    plain = run_cli(database_url, "search", "--shop", "peakandpine", "tent")
    assert plain.exit_code == 0, plain.output
    assert plain.stdout.startswith("1. product:lantern-2-tent")


def test_cli_search_errors_are_clean(database_url: str) -> None:
    """A bad k or an unknown shop exits non-zero with a message, never a traceback."""
    seed(database_url)
    bad_k = run_cli(database_url, "search", "--shop", DOMAIN, "-k", "51", "tent")
    assert bad_k.exit_code == 2
    unknown = run_cli(database_url, "search", "--shop", "nowhere", "tent")
    assert unknown.exit_code == 1
    assert "No store nowhere.myshopify.com" in unknown.output
    empty = run_cli(database_url, "search", "--shop", DOMAIN, "?!")
    assert empty.exit_code == 1
    assert "Traceback" not in empty.output


class CountStatements:
    """Counts the term-count statements a database runs (SQLite's count probes, PostgreSQL's
    read of its statistics), seen through SQLAlchemy's cursor events."""

    MARKERS = ("WITH store AS MATERIALIZED", "FROM pg_class")

    def __init__(self, taskra: Taskra) -> None:
        self.seen = 0
        self.engine = taskra.db.engine.sync_engine
        event.listen(self.engine, "before_cursor_execute", self._saw)

    def _saw(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.seen += any(marker in statement for marker in self.MARKERS)

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._saw)


async def test_term_counts_are_kept_between_searches(
    taskra: Taskra, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a big catalogue the words of a message are counted once: the next message with the
    same words runs no count statement, one with a new word counts that word alone, and the
    results are those of a search that counted everything afresh."""
    store_id = await big_catalogue(taskra, monkeypatch)
    knowledge = Knowledge(taskra)
    statements = CountStatements(taskra)
    try:
        first = await knowledge.search(store_id, "ridgeback jacket")
        assert statements.seen == 1
        assert knowledge.term_counts.known(store_id, ["ridgeback", "jacket"]).keys() == {
            "ridgeback",
            "jacket",
        }
        again = await knowledge.search(store_id, "ridgeback jacket")
        assert statements.seen == 1
        assert again == first
        assert ids(first)[0] == "product:ridgeback-jacket"
        await knowledge.search(store_id, "ridgeback lantern")
        assert statements.seen == 2
        fresh = await Knowledge(taskra).search(store_id, "ridgeback jacket")
        assert fresh == first
    finally:
        statements.close()


async def test_a_small_store_is_known_small_without_counting(taskra: Taskra) -> None:
    """A store too small for words to be chosen is found so once; later searches of it run
    no count statement at all."""
    store_id = await outdoor_shop(taskra)
    knowledge = Knowledge(taskra)
    statements = CountStatements(taskra)
    try:
        await knowledge.search(store_id, "tent")
        await knowledge.search(store_id, "waterproof jacket for the rain")
        assert statements.seen == 1
        assert knowledge.term_counts.store_is_small(store_id) is True
    finally:
        statements.close()


def test_term_counts_expire_and_are_forgotten_per_store() -> None:
    """Counts go after their time to live, and forget() drops one store's only."""
    now = [0.0]
    counts = TermCounts(ttl=60, timer=lambda: now[0])
    counts.remember(1, False, {"jacket": 500, "ridgeback": 1})
    counts.remember(2, True, {})
    assert counts.known(1, ["jacket", "ridgeback", "tent"]) == {"jacket": 500, "ridgeback": 1}
    assert (counts.store_is_small(1), counts.store_is_small(2), counts.store_is_small(3)) == (
        False,
        True,
        None,
    )
    counts.forget(1)
    assert counts.known(1, ["jacket"]) == {}
    assert counts.store_is_small(1) is None
    assert counts.store_is_small(2) is True
    now[0] = 61.0
    assert counts.store_is_small(2) is None


async def test_an_import_forgets_the_stores_term_counts(taskra: Taskra) -> None:
    """Importing a store's catalogue in this process drops the counts kept for it."""
    report = await import_store(taskra, FELLANDFORD)
    async with taskra.db.session() as session:
        store_id = await resolve_store_id(session, report.domain)
    taskra.knowledge.term_counts.remember(store_id, False, {"jacket": 3})
    await import_store(taskra, FELLANDFORD)
    assert taskra.knowledge.term_counts.known(store_id, ["jacket"]) == {}


def test_a_phrase_of_stemmed_words_matches_in_order() -> None:
    """The pair "walking poles" is matched by stem and ending, word after word: the title
    saying "walking poles" beats the one with the same words apart (which would win a tie,
    on its source id). It was once matched only where the first word had no ending."""
    query = build_query("Do you have the walking poles?")
    apart = Candidate("product:a-poles", "Poles for walking", "Light and strong.", "")
    together = Candidate("product:b-poles", "Walking poles for", "Light and strong.", "")
    ranked = rank(query, [apart, together], k=2)
    assert [r.candidate.source_id for r in ranked] == ["product:b-poles", "product:a-poles"]
    assert ranked[0].score > ranked[1].score
