"""Knowledge search at scale: the dev questions against a 10,000-product catalogue.

    python bench/knowledge_search.py                     # temporary SQLite file
    python bench/knowledge_search.py --products 2000     # quicker
    python bench/knowledge_search.py --database-url postgresql+asyncpg://postgres@127.0.0.1/bench

The catalogue is the demo store (Fell & Ford) grown to ``--products`` products with
synthetic siblings of its own products (same types, descriptions and variants under new
names), so common words ("jacket", "size", "waterproof") match thousands of passages as in
a real big shop, while the products, policies and FAQs the questions ask about are still
there. ``--other-stores`` more stores share the tables and indexes. Everything is loaded
through the importer, as ``taskra store import`` would.

Prints p50/p95 of ``taskra.knowledge.search(store_id, message, k=5)`` over the dev
questions, and beside them the same for a bare full-text query on the same data (the
customer's words OR'ed, ranked by the database, top 5: the baseline), so the ratio shows
what the layers add. Also prints recall@5 of the dev questions on the big catalogue, so a
speed-up that loses answers shows. Budget: p95 < 15 ms (a draft's overhead includes one
search). ``--database-url`` must name a scratch database: it is migrated and filled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from taskra_core.app import Taskra
from taskra_core.demo import FELLANDFORD
from taskra_core.knowledge.importer import import_store
from taskra_core.knowledge.query import build_query, fts5_match, tsquery_match
from taskra_core.knowledge.service import resolve_store_id
from taskra_core.testing import make_test_taskra

REPO = Path(__file__).resolve().parent.parent
# The labelled questions are evaluation data, kept outside the package.
QUESTIONS = REPO.parent / "shared" / "data" / "stores" / "fellandford" / "questions-dev.jsonl"
BUDGET_MS = 15.0
K = 5
ROUNDS = 5

# Made-up fell and dale names for the synthetic products: 40 x 20 of them, so a name is
# shared by about a dozen products across a catalogue, as product lines are.
_FIRST_PARTS = """
    Ash Birk Black Brant Broad Cald Cock Crum Dod Ellers Fox Gats Glen Grise Hart Hay High Ill
    Kirk Lang Ling Mar Mickle Nab Ox Pave Raven Red Ryd Sca Seat Sil Stock Stone Swirl Thorn
    Thirl Wether White Yew
"""
_SECOND_PARTS = """
    beck bank crag dale fell field gill how knott mere moss pike rigg scar side thwaite top
    water wick wood
"""


def _names(taken: set[str]) -> list[str]:
    return [
        f + s
        for f in _FIRST_PARTS.split()
        for s in _SECOND_PARTS.split()
        if (f + s).lower() not in taken
    ]


def synthetic_products(
    demo: list[dict[str, Any]], count: int, seed: int, tag: str
) -> list[dict[str, Any]]:
    """``count`` products made from the demo's: a new name in the title and the prose, the
    same type, tags, description and variants (with new handles and SKUs)."""
    rng = random.Random(seed)
    prose = " ".join(product.get("body_html") or "" for product in demo)
    taken = {product["title"].split()[0].lower() for product in demo}
    names = _names(taken)
    made = []
    for n in range(count):
        base = rng.choice(demo)
        name = rng.choice(names)
        first = base["title"].split()[0]
        title, body = base["title"], base.get("body_html") or ""
        if re.search(rf"\b{re.escape(first.lower())}\b", prose):
            # A plain word ("Merino Hiking Socks"): the product line's name goes before it.
            title = f"{name} {title}"
        else:
            title = title.replace(first, name, 1)
            body = re.sub(rf"\b{re.escape(first)}\b", name, body)
        made.append(
            base
            | {
                "id": f"gid://shopify/Product/{tag}{n}",
                "handle": f"{base['handle']}-{tag}{n}",
                "title": title,
                "body_html": body,
                "variants": [
                    variant
                    | {
                        "id": f"gid://shopify/ProductVariant/{tag}{n}-{i}",
                        "sku": f"{variant.get('sku') or 'SKU'}-{tag}{n}",
                    }
                    for i, variant in enumerate(base.get("variants") or [])
                ],
            }
        )
    return made


def write_store(
    folder: Path, domain: str, products: list[dict[str, Any]], with_orders: bool
) -> Path:
    folder.mkdir(parents=True)
    shop = json.loads((FELLANDFORD / "shop.json").read_text()) | {"domain": domain}
    (folder / "shop.json").write_text(json.dumps(shop))
    (folder / "products.json").write_text(json.dumps(products))
    names = ["policies.json", "faqs.json"] + (["customers_orders.json"] if with_orders else [])
    for name in names:
        (folder / name).write_text((FELLANDFORD / name).read_text())
    return folder


async def populate(
    taskra: Taskra, scratch: Path, products: int, other_stores: int, other_products: int
) -> str:
    """Import the big store and the others; returns the big store's domain."""
    demo = json.loads((FELLANDFORD / "products.json").read_text())
    main_domain = str(json.loads((FELLANDFORD / "shop.json").read_text())["domain"])
    stores = [(main_domain, demo + synthetic_products(demo, max(0, products - len(demo)), 1, "s"))]
    stores += [
        (f"bench{s}.myshopify.com", synthetic_products(demo, other_products, 100 + s, f"o{s}-"))
        for s in range(other_stores)
    ]
    for s, (domain, items) in enumerate(stores):
        started = time.perf_counter()
        folder = write_store(scratch / f"store{s}", domain, items, with_orders=s == 0)
        await import_store(taskra, folder)
        took = time.perf_counter() - started
        print(f"imported {domain}: {len(items):,} products in {took:.1f} s", file=sys.stderr)
    return main_domain


async def timed(
    fn: Callable[[str], Awaitable[Any]], messages: list[str], rounds: int
) -> tuple[float, float]:
    for message in messages:  # warm-up: caches, prepared statements, the OS page cache
        await fn(message)
    times = []
    for _ in range(rounds):
        for message in messages:
            t0 = time.perf_counter()
            await fn(message)
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def message(question: dict[str, Any]) -> str:
    """Subject and body, as the draft pipeline searches them."""
    return f"{question.get('subject') or ''}\n{question['body']}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=10_000, help="in the searched store")
    parser.add_argument("--other-stores", type=int, default=3)
    parser.add_argument("--other-products", type=int, default=2_000, help="in each other store")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="times over the questions")
    parser.add_argument("--questions", type=Path, default=QUESTIONS, help="JSONL")
    parser.add_argument("--database-url", help="a scratch database (default: temporary SQLite)")
    args = parser.parse_args()
    questions = [json.loads(line) for line in args.questions.read_text().splitlines() if line]
    messages = [message(q) for q in questions]

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        taskra = make_test_taskra(url)
        await taskra.startup()
        try:
            domain = await populate(
                taskra, Path(tmp), args.products, args.other_stores, args.other_products
            )
            async with taskra.db.session() as session:
                store_id = await resolve_store_id(session, domain)
            dialect = taskra.db.dialect

            async def search(message: str) -> list[str]:
                hits = await taskra.knowledge.search(store_id, message, k=K)
                return [hit.source_id for hit in hits]

            if dialect == "postgresql":
                bare_sql = text(
                    "SELECT source_id FROM knowledge_passages, to_tsquery('english', :m) AS q"
                    " WHERE store_id = :s AND search_vector @@ q"
                    " ORDER BY ts_rank_cd(search_vector, q) DESC LIMIT :k"
                )
            else:
                bare_sql = text(
                    "SELECT p.source_id FROM knowledge_fts"
                    " JOIN knowledge_passages AS p ON p.id = knowledge_fts.rowid"
                    " WHERE knowledge_fts MATCH :m ORDER BY rank LIMIT :k"
                )

            async def bare(message: str) -> None:
                terms = build_query(message).terms
                if dialect == "postgresql":
                    match = tsquery_match(terms)
                else:
                    match = f'store_id:"{store_id}" AND {{title text keywords}}: '
                    match += f"({fts5_match(terms)})"
                async with taskra.db.session() as session:
                    (await session.execute(bare_sql, {"m": match, "s": store_id, "k": K})).all()

            recall = []
            for question in questions:
                expected = [
                    s for s in question.get("expected_sources", []) if not s.startswith("order:")
                ]
                if expected:
                    found = await search(message(question))
                    recall.append(sum(s in found for s in expected) / len(expected))

            p50, p95 = await timed(search, messages, args.rounds)
            b50, b95 = await timed(bare, messages, args.rounds)
            print(
                f"\n{args.products:,} products + {args.other_stores} other stores x"
                f" {args.other_products:,}, {dialect}, {len(messages)} questions x {args.rounds}"
            )
            print(f"{'operation':<28}{'p50 ms':>9}{'p95 ms':>9}{'ratio p50':>11}{'ratio p95':>11}")
            print(f"{'bare full-text query':<28}{b50:>9.2f}{b95:>9.2f}")
            verdict = "ok" if p95 < BUDGET_MS else "OVER BUDGET"
            print(
                f"{'knowledge.search (k=5)':<28}{p50:>9.2f}{p95:>9.2f}{p50 / b50:>11.1f}"
                f"{p95 / b95:>11.1f}  {verdict}"
            )
            print(f"recall@5 on this catalogue: {statistics.fmean(recall):.3f}")
        finally:
            await taskra.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
