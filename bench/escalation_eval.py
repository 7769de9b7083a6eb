"""Escalation guardrails against labelled questions: precision, recall and F1.

    python bench/escalation_eval.py
    python bench/escalation_eval.py --questions path/to/questions.jsonl --threshold 300

With ``--pipeline`` it also drafts every question through the whole drafting pipeline (the
offline model, on a scratch SQLite database with the demo store imported, the clock at the
store's ``as_of``) and scores the drafts that end up escalated. That figure includes the
draft-level checks (no grounding source, a reply in another language than the customer's),
which the labels do not cover, so expect lower precision there.

Each line of the questions file is a JSON object with id, channel, subject, body,
customer_email, intent and must_escalate. The store's orders (the demo store, Fell & Ford)
give the caller-side context: whether the sender owns the order the message mentions, and
that order's total. Prints the confusion counts, every miss with its reasons, and a naive
keyword baseline for comparison. Targets: recall >= 0.95 with precision >= 0.80.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from taskra_core.app import Taskra
from taskra_core.demo import FELLANDFORD
from taskra_core.drafting.guardrails import EscalationReason, GuardrailContext, check_message
from taskra_core.knowledge.importer import import_store
from taskra_core.plugins import make_plugin_manager
from taskra_core.settings import Settings

REPO = Path(__file__).resolve().parent.parent
DEFAULT_QUESTIONS = REPO.parent / "shared/data/stores/fellandford/questions-dev.jsonl"
BASELINE_WORDS = ("refund", "lawyer", "angry", "human")

# "#1034", "order 1034", "order number 1027", "order no. 1027", "commande #1018", "pedido 1234".
ORDER_REF = re.compile(
    r"(?:#|\b(?:order|commande|pedido)\s*(?:number|no\.?|num(?:ero|éro)?|n[°º])?\s*#?\s*)"
    r"(\d{3,6})\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Order:
    email: str
    total: Decimal


def load_orders(store: Path) -> dict[str, Order]:
    """Orders by number without '#', e.g. {"1034": Order(...)}."""
    data: dict[str, Any] = json.loads((store / "customers_orders.json").read_text())
    orders = {}
    for o in data.get("orders", []):
        amount = o.get("totalPriceSet", {}).get("shopMoney", {}).get("amount", "0")
        orders[str(o["name"]).lstrip("#")] = Order(
            email=str(o.get("email") or "").strip().lower(), total=Decimal(str(amount))
        )
    return orders


def context_for(
    q: dict[str, Any], orders: dict[str, Order], threshold: Decimal
) -> GuardrailContext:
    """What a caller would pass: ownership and total of the first known order mentioned."""
    text = f"{q.get('subject') or ''}\n{q.get('body') or ''}"
    sender = str(q.get("customer_email") or "").strip().lower()
    for number in ORDER_REF.findall(text):
        order = orders.get(number)
        if order is not None:
            return GuardrailContext(
                refund_threshold=threshold,
                sender_owns_order=order.email == sender,
                order_total=order.total,
            )
    return GuardrailContext(refund_threshold=threshold)


def baseline(q: dict[str, Any]) -> bool:
    text = f"{q.get('subject') or ''}\n{q.get('body') or ''}".lower()
    return any(word in text for word in BASELINE_WORDS)


def scores(pairs: list[tuple[bool, bool]]) -> tuple[int, int, int, int, float, float, float]:
    """(tp, fp, fn, tn, precision, recall, f1) for (predicted, expected) pairs."""
    tp = sum(p and e for p, e in pairs)
    fp = sum(p and not e for p, e in pairs)
    fn = sum(e and not p for p, e in pairs)
    tn = sum(not p and not e for p, e in pairs)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return tp, fp, fn, tn, precision, recall, f1


def _describe(reasons: list[EscalationReason]) -> str:
    return "; ".join(f"{r.code} ({r.detail})" for r in reasons) or "no reasons"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    parser.add_argument("--store", type=Path, default=FELLANDFORD)
    parser.add_argument("--threshold", type=Decimal, default=Decimal(300))
    parser.add_argument(
        "--pipeline", action="store_true", help="also score full offline drafts (slower)"
    )
    args = parser.parse_args(argv)

    questions = [
        json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()
    ]
    orders = load_orders(args.store)
    pairs: list[tuple[bool, bool]] = []
    base_pairs: list[tuple[bool, bool]] = []
    misses: list[str] = []
    started = time.perf_counter()
    for q in questions:
        reasons = check_message(
            q.get("body") or "", q.get("subject") or "", context_for(q, orders, args.threshold)
        )
        predicted, expected = bool(reasons), bool(q.get("must_escalate"))
        pairs.append((predicted, expected))
        base_pairs.append((baseline(q), expected))
        if predicted != expected:
            kind = "FALSE NEGATIVE" if expected else "FALSE POSITIVE"
            misses.append(f"{kind} {q['id']} [{q.get('intent')}]: {_describe(reasons)}")
    elapsed_ms = (time.perf_counter() - started) * 1000 / max(len(questions), 1)

    tp, fp, fn, tn, precision, recall, f1 = scores(pairs)
    _, _, _, _, b_precision, b_recall, b_f1 = scores(base_pairs)
    print(f"questions: {len(questions)}  ({args.questions})")
    print(f"confusion: tp={tp} fp={fp} fn={fn} tn={tn}")
    print(f"guardrails: precision={precision:.3f} recall={recall:.3f} f1={f1:.3f}")
    ratio = f"{f1 / b_f1:.2f}x" if b_f1 else "n/a"
    print(
        f"baseline (any of {', '.join(BASELINE_WORDS)}): precision={b_precision:.3f} "
        f"recall={b_recall:.3f} f1={b_f1:.3f}  -> guardrails/baseline F1 ratio {ratio}"
    )
    print(f"time per message: {elapsed_ms:.3f} ms (includes context lookup)")
    for line in misses:
        print(line)
    met = recall >= 0.95 and precision >= 0.80
    print(f"targets (recall >= 0.95, precision >= 0.80): {'met' if met else 'NOT met'}")
    if args.pipeline:
        asyncio.run(pipeline(questions, args.store))
    return 0


async def pipeline(questions: list[dict[str, Any]], store: Path) -> None:
    """Score the drafts of the whole pipeline (offline model) against the same labels."""
    as_of = json.loads((store / "customers_orders.json").read_text()).get("as_of")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_values(
            database_url=f"sqlite+aiosqlite:///{tmp}/eval.db", now=as_of, reply_model="offline"
        )
        pm = make_plugin_manager(load_entrypoints=False)
        async with Taskra(settings, pm=pm) as taskra:
            report = await import_store(taskra, store)
            pairs = []
            misses = []
            for q in questions:
                result = await taskra.drafting.preview(
                    report.domain,
                    text=q.get("body") or "",
                    from_email=q["customer_email"],
                    channel=q.get("channel") or "email",
                    subject=q.get("subject") or "",
                )
                expected = bool(q.get("must_escalate"))
                pairs.append((result.escalate, expected))
                if result.escalate != expected:
                    kind = "FALSE NEGATIVE" if expected else "FALSE POSITIVE"
                    misses.append(f"  {kind} {q['id']}: {_describe(list(result.reasons))}")
    tp, fp, fn, tn, precision, recall, f1 = scores(pairs)
    print(
        f"\nwhole pipeline, offline model: tp={tp} fp={fp} fn={fn} tn={tn} "
        f"precision={precision:.3f} recall={recall:.3f} f1={f1:.3f}"
    )
    for line in misses:
        print(line)


if __name__ == "__main__":
    sys.exit(main())
