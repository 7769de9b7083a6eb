"""Knowledge conflicts: documents that state different values for one fact are reported."""

from __future__ import annotations

import asyncio
import json

import click
from click.testing import CliRunner, Result

from taskra_core.app import Taskra
from taskra_core.cli_support import CliState
from taskra_core.knowledge.cli import knowledge
from taskra_core.knowledge.conflicts import Conflict, conflicts_in
from taskra_core.knowledge.facts import SourceText
from taskra_core.knowledge.service import Knowledge
from taskra_core.plugins import make_plugin_manager
from taskra_core.testing import make_test_settings, make_test_taskra
from tests.core.test_knowledge_search import add_doc, add_store

DOMAIN = "peakandpine.myshopify.com"

REFUND_POLICY = """We want you to love your kit. You can send it back within 30 days of the date it
was delivered for a refund or an exchange.

Refunds

We process refunds within 3 working days of your return arriving. Your bank may then take
5-10 working days to show the money. If you return a whole order within 14 days of delivery we
also refund the standard delivery charge.

Warranty

Faulty items can be rejected within 30 days. After that, Peak & Pine products carry a 2-year
warranty (3 years for our waterproof shells and Tarn boots, and a lifetime guarantee on our
hiking socks)."""

SHIPPING_POLICY = """Orders placed before 1pm are dispatched the same working day.

UK mainland

- Standard (Royal Mail Tracked 48): 2-3 working days after dispatch. £3.95, or free on orders
over £60.
- Express (DPD next working day): order by 1pm. £6.95.

Highlands & Islands and Northern Ireland

Standard delivery only, 3-5 working days after dispatch, £5.95 or free on orders over £100.

International

- European Union: 3-6 working days, £12.95, free over £150.
- Switzerland and Norway: 4-7 working days, £19.95.

Restricted items

Gas cartridges go by road to UK mainland addresses only (Standard price, 2-4 working days)."""

TERMS = """Under the Consumer Contracts Regulations you can cancel within 14 days of receiving
your goods. Our thirty-day returns policy extends this."""


async def consistent_shop(taskra: Taskra) -> int:
    """A store whose documents agree, with plenty of numbers that are about other things."""
    store_id = await add_store(taskra, DOMAIN, name="Peak & Pine", currency="GBP")
    docs = [
        ("policy:REFUND_POLICY", "Returns & Refunds", REFUND_POLICY),
        ("policy:SHIPPING_POLICY", "Shipping & Delivery", SHIPPING_POLICY),
        ("policy:TERMS_OF_SERVICE", "Terms of Service", TERMS),
        (
            "faq:exchanges",
            "Can I exchange something?",
            "Start an exchange in the returns portal within 30 days of delivery.",
        ),
        (
            "faq:refund-timing",
            "How long will my refund take?",
            "We process returns within 3 working days of them arriving. Klarna refunds "
            "typically appear within 3-5 working days.",
        ),
        (
            "faq:damaged",
            "My item arrived damaged",
            "Email us within 14 days of delivery with photos and we'll replace it.",
        ),
        (
            "faq:price-adjustments",
            "Can you refund the difference?",
            "If an item is reduced within 14 days of your order, we'll refund the difference.",
        ),
        (
            "faq:warranty-claims",
            "What does the warranty cover?",
            "Peak & Pine products have a 2-year warranty. Waterproof shells and Tarn boots are "
            "covered for 3 years, and our hiking socks have a lifetime guarantee.",
        ),
        (
            "product:tarn-boot-mens",
            "Tarn Leather Walking Boot - Men's",
            "A leather boot. Warranty: 3 years.",
        ),
        (
            "product:little-tarn-kids-boot",
            "Little Tarn Kids' Boot",
            "A kids' boot from a different line. 2-year warranty.",
        ),
        ("product:compass", "Baseplate Compass", "Lifetime warranty against bubbles."),
        ("product:filter-bottle", "Filter Bottle", "Warranty: 1-year warranty."),
    ]
    for source_id, title, text in docs:
        await add_doc(taskra, store_id, source_id, title, text)
    return store_id


def single(conflicts: list[Conflict], fact: str) -> Conflict:
    found = [c for c in conflicts if c.fact == fact]
    assert len(found) == 1, [c.describe() for c in conflicts]
    return found[0]


async def test_a_consistent_store_has_no_conflicts(taskra: Taskra) -> None:
    """Agreeing documents, regional prices and numbers about other rules are not conflicts."""
    await consistent_shop(taskra)
    assert await Knowledge(taskra).conflicts(DOMAIN) == []


async def test_a_shorter_return_window_in_an_faq_is_reported(taskra: Taskra) -> None:
    """An FAQ promising 14-day returns against the policy's 30 names both documents."""
    store_id = await consistent_shop(taskra)
    await add_doc(
        taskra,
        store_id,
        "faq:how-to-return",
        "How do I send something back?",
        "You can return unworn items within 14 days of delivery using the portal.",
    )
    conflict = single(await Knowledge(taskra).conflicts(store_id), "return_window")
    assert {"faq:how-to-return", "policy:REFUND_POLICY"} <= set(conflict.sources)
    assert {value.value for value in conflict.values} == {"14 days", "30 days"}
    planted = next(v for v in conflict.values if v.source_id == "faq:how-to-return")
    assert "within 14 days of delivery" in planted.excerpt
    assert "Return window: " in conflict.describe()


async def test_refund_time_delivery_and_free_delivery_conflicts(taskra: Taskra) -> None:
    """Refund processing days, standard UK delivery days and the UK free-delivery threshold
    are each compared within their own region and service."""
    store_id = await consistent_shop(taskra)
    await add_doc(
        taskra,
        store_id,
        "faq:delivery",
        "How long does delivery take?",
        "Standard UK delivery takes 3-5 working days. Free UK delivery on orders over £50. "
        "Refunds are processed within 10 working days.",
    )
    conflicts = await Knowledge(taskra).conflicts(store_id)
    refund = single(conflicts, "refund_processing")
    assert {v.value for v in refund.values} == {"3 working days", "10 working days"}
    delivery = single(conflicts, "delivery_time")
    assert delivery.scope == "uk standard"
    assert {(v.value, v.source_id) for v in delivery.values} == {
        ("2-3 working days", "policy:SHIPPING_POLICY"),
        ("3-5 working days", "faq:delivery"),
    }
    free = single(conflicts, "free_delivery_threshold")
    assert (free.scope, {v.value for v in free.values}) == ("uk", {"£50", "£60"})


async def test_warranty_conflicts_compare_like_with_like(taskra: Taskra) -> None:
    """A product line's warranty is checked against the policy that names that line; a
    different line with a similar name, or a product no policy mentions, is not."""
    store_id = await consistent_shop(taskra)
    await add_doc(
        taskra,
        store_id,
        "product:tarn-boot-womens",
        "Tarn Leather Walking Boot - Women's",
        "Leather boot, women's fit. 18-month warranty.",
    )
    conflict = single(await Knowledge(taskra).conflicts(store_id), "warranty")
    assert conflict.scope == "boot tarn"
    assert {(v.value, v.source_id) for v in conflict.values} == {
        ("18 months", "product:tarn-boot-womens"),
        ("3 years", "faq:warranty-claims"),
        ("3 years", "policy:REFUND_POLICY"),
        ("3 years", "product:tarn-boot-mens"),
    }


def test_written_numbers_and_one_document_qualifying_itself() -> None:
    """ "Thirty days" equals "30 days"; one document stating two values is not a conflict."""
    docs = [
        SourceText("policy:A", "policy", "Returns", "Send items back within thirty days."),
        SourceText("faq:b", "faq", "Returns?", "Our 30-day returns give you time to decide."),
        SourceText(
            "faq:c",
            "faq",
            "Delivery",
            "- Standard: 2-3 working days.\n\nStandard delivery takes 2 to 3 working days.",
        ),
    ]
    assert conflicts_in(docs, "uk") == []
    own = [
        SourceText(
            "policy:A",
            "policy",
            "Returns",
            "Send items back within 30 days.\n\nSale items: send them back within 14 days.",
        )
    ]
    assert conflicts_in(own, "uk") == []


def run_cli(database_url: str, *args: str) -> Result:
    settings = make_test_settings(database_url)
    pm = make_plugin_manager(load_entrypoints=False)
    group = click.Group(commands={"knowledge": knowledge})
    return CliRunner().invoke(group, ["knowledge", *args], obj=CliState(settings, pm))


def test_cli_conflicts_in_text_and_json(database_url: str) -> None:
    """`knowledge conflicts` says when there are none, and lists them (also as JSON)."""

    async def seed(planted: bool) -> None:
        async with make_test_taskra(database_url) as taskra:
            if not planted:
                await consistent_shop(taskra)
                return
            async with taskra.db.session() as session:
                from taskra_core.stores import get_store

                store = await get_store(session, DOMAIN)
            assert store.id is not None
            await add_doc(taskra, store.id, "faq:returns", "Returns", "Return it within 14 days.")

    asyncio.run(seed(planted=False))
    clean = run_cli(database_url, "conflicts", "--shop", DOMAIN)
    assert clean.exit_code == 0, clean.output
    assert clean.stdout.strip() == "No conflicts found."

    asyncio.run(seed(planted=True))
    listed = run_cli(database_url, "conflicts", "--shop", DOMAIN, "--json")
    assert listed.exit_code == 0, listed.output
    [conflict] = json.loads(listed.stdout)
    assert conflict["fact"] == "return_window"
    assert {v["source_id"] for v in conflict["values"]} >= {"faq:returns", "policy:REFUND_POLICY"}
    text = run_cli(database_url, "conflicts", "--shop", DOMAIN)
    assert text.stdout.startswith("Return window: ")
