"""Retrieval evaluation: does knowledge search find the documents an answer must cite?

Imports a store folder into a scratch database, runs every labelled question (subject and
body) through ``Knowledge.search(k=5)``, and reports recall@1, recall@5 and MRR against the
question's ``expected_sources``, beside a baseline that sends the raw text to the same index
and ranking with no clean-up and no synonyms.

Only knowledge sources count: ``order:`` sources are answered by order lookup, not search,
so they are left out, and questions expecting no knowledge source are skipped.

::

    python bench/retrieval_eval.py                        # SQLite, the dev questions
    python bench/retrieval_eval.py --database-url postgresql+asyncpg://postgres@127.0.0.1/scratch
    python bench/retrieval_eval.py --store DIR --questions FILE --json

``--database-url`` must name a scratch database: it is migrated and the store imported into
it. Without it a temporary SQLite file is used and removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Runs from a checkout without installing it, like the other bench scripts.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from taskra_core.app import Taskra
from taskra_core.demo import FELLANDFORD
from taskra_core.knowledge.importer import import_store
from taskra_core.knowledge.query import naive_query
from taskra_core.knowledge.search import search_knowledge
from taskra_core.knowledge.service import Knowledge, resolve_store_id
from taskra_core.plugins import make_plugin_manager
from taskra_core.settings import Settings

REPO = Path(__file__).resolve().parent.parent
DEFAULT_STORE = FELLANDFORD
# The labelled questions are evaluation data, kept outside the package.
DEFAULT_QUESTIONS = REPO.parent / "shared" / "data" / "stores" / "fellandford"
DEFAULT_QUESTIONS /= "questions-dev.jsonl"
K = 5


@dataclass
class Scores:
    """Metrics over the questions that expect at least one knowledge source."""

    recall_at_1: list[float] = field(default_factory=list)
    recall_at_5: list[float] = field(default_factory=list)
    reciprocal_ranks: list[float] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    misses: list[dict[str, Any]] = field(default_factory=list)

    def add(self, question: dict[str, Any], expected: list[str], found: list[str]) -> None:
        self.recall_at_1.append(_share(expected, found[:1]))
        self.recall_at_5.append(_share(expected, found[:K]))
        first = next((i for i, source in enumerate(found) if source in expected), None)
        self.reciprocal_ranks.append(0.0 if first is None else 1 / (first + 1))
        missing = [source for source in expected if source not in found[:K]]
        if missing:
            self.misses.append({"id": question["id"], "missing": missing, "found": found[:K]})

    def summary(self) -> dict[str, Any]:
        latencies = sorted(self.latencies_ms)
        return {
            "questions": len(self.recall_at_5),
            "recall@1": round(statistics.fmean(self.recall_at_1), 3),
            "recall@5": round(statistics.fmean(self.recall_at_5), 3),
            "mrr": round(statistics.fmean(self.reciprocal_ranks), 3),
            "latency_ms_p50": round(latencies[len(latencies) // 2], 2),
            "latency_ms_p95": round(latencies[int(len(latencies) * 0.95)], 2),
        }


def _share(expected: list[str], found: list[str]) -> float:
    return sum(source in found for source in expected) / len(expected)


def knowledge_sources(question: dict[str, Any]) -> list[str]:
    return [s for s in question.get("expected_sources", []) if not s.startswith("order:")]


def message(question: dict[str, Any]) -> str:
    return f"{question.get('subject') or ''}\n\n{question['body']}".strip()


async def evaluate(store: Path, questions: list[dict[str, Any]], url: str) -> dict[str, Any]:
    settings = Settings.from_values(database_url=url, auto_migrate=True)
    taskra = Taskra(settings, pm=make_plugin_manager(load_entrypoints=False))
    async with taskra:
        report = await import_store(taskra, store)
        knowledge = Knowledge(taskra)
        async with taskra.db.session() as session:
            # By id, as drafting searches: the latency is the search's alone.
            store_id = await resolve_store_id(session, report.domain)
        main, baseline = Scores(), Scores()
        labelled = [q for q in questions if knowledge_sources(q)]
        for question in labelled:
            expected = knowledge_sources(question)
            started = time.perf_counter()
            hits = await knowledge.search(store_id, message(question), k=K)
            main.latencies_ms.append((time.perf_counter() - started) * 1000)
            main.add(question, expected, [hit.source_id for hit in hits])

            started = time.perf_counter()
            async with taskra.db.session() as session:
                raw = await search_knowledge(
                    session, taskra.db.dialect, store_id, naive_query(message(question)), K
                )
            baseline.latencies_ms.append((time.perf_counter() - started) * 1000)
            baseline.add(question, expected, [hit.source_id for hit in raw])
    return {
        "database": taskra.db.dialect,
        "store": report.domain,
        "questions": len(questions),
        "skipped": len(questions) - len(labelled),
        "search": main.summary(),
        "baseline": baseline.summary(),
        "misses": main.misses,
    }


def print_report(result: dict[str, Any]) -> None:
    main, base = result["search"], result["baseline"]
    print(
        f"{result['database']}: {result['store']}, {main['questions']} questions with knowledge"
        f" sources ({result['skipped']} of {result['questions']} skipped: orders only or none)"
    )
    for metric in ("recall@1", "recall@5", "mrr"):
        ratio = main[metric] / base[metric] if base[metric] else float("inf")
        print(f"  {metric:<9} {main[metric]:.3f}   baseline {base[metric]:.3f}   x{ratio:.2f}")
    print(
        f"  latency   p50 {main['latency_ms_p50']} ms, p95 {main['latency_ms_p95']} ms"
        f"   (baseline p95 {base['latency_ms_p95']} ms)"
    )
    for miss in result["misses"]:
        print(f"  miss {miss['id']}: {', '.join(miss['missing'])}")
        print(f"       got {', '.join(miss['found'])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE, help="store folder")
    parser.add_argument(
        "--questions", type=Path, default=DEFAULT_QUESTIONS, help="labelled questions (JSONL)"
    )
    parser.add_argument("--database-url", help="a scratch database (default: temporary SQLite)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    questions_file = args.questions
    questions = [
        json.loads(line) for line in questions_file.read_text().splitlines() if line.strip()
    ]
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database_url or f"sqlite+aiosqlite:///{scratch}/eval.db"
        result = asyncio.run(evaluate(args.store, questions, url))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
