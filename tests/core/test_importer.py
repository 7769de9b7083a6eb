"""Importing a store folder: idempotency, removal, updates, validation, text, orders, CLI."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import event, func, select
from sqlmodel import col

from taskra_core.app import Taskra
from taskra_core.cli_support import CliState
from taskra_core.demo import FELLANDFORD
from taskra_core.errors import InvalidInput
from taskra_core.knowledge.documents import html_to_text, split_passages
from taskra_core.knowledge.importer import ImportReport, import_store
from taskra_core.knowledge.store_cli import store
from taskra_core.models import Customer, KnowledgeItem, KnowledgePassage, Order, Store
from taskra_core.plugins import make_plugin_manager
from taskra_core.testing import make_test_settings

DOMAIN = "fellandford.myshopify.com"
# 120 products, 5 policies and 40 FAQs.
ITEMS = 165


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A writable copy of the demo store folder."""
    target = tmp_path / "fellandford"
    shutil.copytree(FELLANDFORD, target, copy_function=shutil.copyfile)
    return target


def read(folder: Path, name: str) -> Any:
    return json.loads((folder / name).read_text(encoding="utf-8"))


def write(folder: Path, name: str, data: Any) -> None:
    (folder / name).write_text(json.dumps(data), encoding="utf-8")


@contextmanager
def recorded_writes(taskra: Taskra) -> Iterator[list[str]]:
    """Every INSERT, UPDATE and DELETE sent to the database inside the block."""
    writes: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().split(None, 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}:
            writes.append(statement)

    engine = taskra.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield writes
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def table_counts(taskra: Taskra) -> dict[str, int]:
    counts = {}
    async with taskra.db.session() as session:
        for model in (Store, KnowledgeItem, KnowledgePassage, Order, Customer):
            query = select(func.count()).select_from(model)
            counts[model.__name__] = int((await session.execute(query)).scalar_one())
    return counts


async def passages_of(taskra: Taskra, source_id: str) -> list[KnowledgePassage]:
    async with taskra.db.session() as session:
        query = (
            select(KnowledgePassage)
            .where(col(KnowledgePassage.source_id) == source_id)
            .order_by(col(KnowledgePassage.ordinal))
        )
        return list(await session.scalars(query))


async def test_importing_twice_changes_nothing_the_second_time(taskra: Taskra) -> None:
    """A second import of the same folder reports the same counts and performs no writes."""
    first = await import_store(taskra, FELLANDFORD)
    assert first.store_created
    assert (first.items_added, first.items_updated, first.items_removed) == (ITEMS, 0, 0)
    assert (first.orders, first.customers) == (40, 25)
    with recorded_writes(taskra) as writes:
        second = await import_store(taskra, FELLANDFORD)
    assert writes == []
    assert not second.store_created
    assert (second.items_added, second.items_updated, second.items_removed) == (0, 0, 0)
    assert second.items_unchanged == ITEMS
    assert (second.passages, second.orders, second.customers) == (
        first.passages,
        first.orders,
        first.customers,
    )
    assert await table_counts(taskra) == {
        "Store": 1,
        "KnowledgeItem": ITEMS,
        "KnowledgePassage": first.passages,
        "Order": 40,
        "Customer": 25,
    }


async def test_store_details_come_from_shop_json(taskra: Taskra) -> None:
    """The store gets name, email, currency, brand voice and as_of; its tokens are left alone."""
    async with taskra.db.transaction() as session:
        now = taskra.clock.now()
        session.add(
            Store(
                domain=DOMAIN, access_token_enc="sealed", plan="pro", created_at=now, updated_at=now
            )
        )
    report = await import_store(taskra, FELLANDFORD)
    assert not report.store_created
    async with taskra.db.session() as session:
        stored = (await session.scalars(select(Store))).one()
    assert (stored.name, stored.email, stored.currency) == (
        "Fell & Ford",
        "hello@fellandford.co.uk",
        "GBP",
    )
    assert stored.settings["brand_voice"].startswith("Fell & Ford sounds like")
    assert datetime.fromisoformat(stored.settings["as_of"]) == datetime(2025, 3, 17, 10, tzinfo=UTC)
    assert (stored.access_token_enc, stored.plan) == ("sealed", "pro")


async def test_a_product_removed_from_the_folder_loses_its_item_and_passages(
    taskra: Taskra, folder: Path
) -> None:
    """Re-importing without a product deletes that item and its passages, and nothing else."""
    await import_store(taskra, folder)
    products = read(folder, "products.json")
    gone = products.pop(0)["handle"]
    write(folder, "products.json", products)
    assert await passages_of(taskra, f"product:{gone}")

    report = await import_store(taskra, folder)

    assert (report.items_removed, report.items_added, report.items_updated) == (1, 0, 0)
    assert report.items_unchanged == ITEMS - 1
    assert await passages_of(taskra, f"product:{gone}") == []
    async with taskra.db.session() as session:
        items = await session.scalars(
            select(KnowledgeItem).where(col(KnowledgeItem.source_id) == f"product:{gone}")
        )
        assert items.first() is None
    counts = await table_counts(taskra)
    assert (counts["KnowledgeItem"], counts["KnowledgePassage"]) == (ITEMS - 1, report.passages)


async def test_a_changed_faq_answer_updates_just_that_item(taskra: Taskra, folder: Path) -> None:
    """Editing one FAQ answer updates that item in place and replaces its passage."""
    await import_store(taskra, folder)
    faqs = read(folder, "faqs.json")
    key = faqs[3]["key"]
    faqs[3]["answer"] = "Yes: every order ships in a recycled cardboard box."
    write(folder, "faqs.json", faqs)
    before = await passages_of(taskra, f"faq:{key}")

    with recorded_writes(taskra) as writes:
        report = await import_store(taskra, folder)

    assert (report.items_updated, report.items_added, report.items_removed) == (1, 0, 0)
    assert report.items_unchanged == ITEMS - 1
    after = await passages_of(taskra, f"faq:{key}")
    assert len(after) == 1
    assert after[0].item_id == before[0].item_id
    assert after[0].text.endswith("every order ships in a recycled cardboard box.")
    assert after[0].text.startswith(faqs[3]["question"])
    # One item update, its passage deleted and re-inserted: nothing else is written.
    assert len(writes) == 3, writes


async def test_items_of_other_kinds_are_never_removed(taskra: Taskra) -> None:
    """Knowledge the importer does not own (a plugin's note) survives a re-import."""
    await import_store(taskra, FELLANDFORD)
    async with taskra.db.transaction() as session:
        store_id = (await session.scalars(select(Store.id))).one()
        now = taskra.clock.now()
        session.add(
            KnowledgeItem(
                store_id=store_id,
                source_id="note:gift-wrap",
                kind="note",
                title="Gift wrap",
                created_at=now,
                updated_at=now,
            )
        )
    report = await import_store(taskra, FELLANDFORD)
    assert report.items_removed == 0
    assert (await table_counts(taskra))["KnowledgeItem"] == ITEMS + 1


def break_shop(folder: Path) -> str:
    (folder / "shop.json").unlink()
    return "shop.json"


def break_json(folder: Path) -> str:
    (folder / "faqs.json").write_text('[{"key": "x", "question": "Q?", ', encoding="utf-8")
    return "faqs.json"


def break_handle(folder: Path) -> str:
    products = read(folder, "products.json")
    del products[7]["handle"]
    write(folder, "products.json", products)
    return "products.json"


@pytest.mark.parametrize(
    ("breaker", "problem"),
    [(break_shop, "missing"), (break_json, "not valid JSON"), (break_handle, "no 'handle'")],
)
async def test_an_invalid_folder_raises_and_writes_nothing(
    taskra: Taskra, folder: Path, breaker: Any, problem: str
) -> None:
    """A missing shop.json, broken JSON or a product without handle: InvalidInput, no write."""
    filename = breaker(folder)
    with recorded_writes(taskra) as writes, pytest.raises(InvalidInput) as raised:
        await import_store(taskra, folder)
    assert filename in str(raised.value)
    assert problem in str(raised.value)
    assert writes == []
    assert set((await table_counts(taskra)).values()) == {0}


async def test_an_invalid_folder_leaves_the_previous_import_whole(
    taskra: Taskra, folder: Path
) -> None:
    """Validation happens before any write: valid changes next to a broken file are not applied."""
    await import_store(taskra, folder)
    before = await table_counts(taskra)
    write(folder, "products.json", read(folder, "products.json")[:10])  # would remove 110
    write(folder, "customers_orders.json", {"orders": [{"email": "x@example.com"}]})
    with recorded_writes(taskra) as writes, pytest.raises(InvalidInput, match="customers_orders"):
        await import_store(taskra, folder)
    assert writes == []
    assert await table_counts(taskra) == before


async def test_policies_are_split_into_passages_that_keep_the_source_id(taskra: Taskra) -> None:
    """Each long policy becomes several passages, each headed by its title, covering it all."""
    await import_store(taskra, FELLANDFORD)
    for policy in read(FELLANDFORD, "policies.json"):
        passages = await passages_of(taskra, f"policy:{policy['type']}")
        assert len(passages) >= 2, policy["type"]
        assert [p.ordinal for p in passages] == list(range(len(passages)))
        for passage in passages:
            assert passage.source_id == f"policy:{policy['type']}"
            assert passage.text.startswith(policy["title"] + "\n\n")
            assert len(passage.text) <= len(policy["title"]) + 2 + 900
        text = "\n\n".join(passage.text for passage in passages)
        for paragraph in policy["body"].split("\n\n"):
            assert paragraph.strip() in text


async def test_product_text_has_no_html(taskra: Taskra) -> None:
    """Product passages are plain text with entities decoded, variants and keywords included."""
    await import_store(taskra, FELLANDFORD)
    async with taskra.db.session() as session:
        passages = list(
            await session.scalars(
                select(KnowledgePassage).where(col(KnowledgePassage.source_id).like("product:%"))
            )
        )
    assert len(passages) == 120
    for passage in passages:
        assert not re.search(r"</?[a-zA-Z][^>]*>", passage.text), passage.source_id
        assert not re.search(r"&[a-zA-Z]+;|&#\d+;", passage.text), passage.source_id
    jacket = next(p for p in passages if p.source_id == "product:skiddaw-3l-waterproof-jacket-mens")
    assert jacket.text.startswith("Skiddaw 3L Waterproof Jacket - Men's\n\n")
    assert "Breathability: 30,000g/m²/24h" in jacket.text
    assert "- Helmet-compatible, three-way adjustable hood with a wired peak\n" in jacket.text
    assert "- XS / Moss (SKU FF-SKD3M-XS-MOSS): price 220.00, out of stock" in jacket.text
    assert "- Colour: Slate Blue, Moss, Black" in jacket.text
    for keyword in ("waterproof jackets", "fell & ford", "pfc-free", "size", "slate blue"):
        assert keyword in jacket.keywords


async def test_orders_and_customers_are_imported_with_normalized_emails(
    taskra: Taskra, folder: Path
) -> None:
    """Orders and customers get lower-cased emails; orders gone from the file are deleted."""
    data = read(folder, "customers_orders.json")
    data["orders"][0]["email"] = "  Priya.Raman84@Example.COM "
    data["customers"][1]["email"] = "PRIYA.RAMAN84@example.com"
    write(folder, "customers_orders.json", data)
    await import_store(taskra, folder)
    async with taskra.db.session() as session:
        order = (await session.scalars(select(Order).where(col(Order.name) == "#1001"))).one()
        customer = (
            await session.scalars(
                select(Customer).where(col(Customer.email) == "priya.raman84@example.com")
            )
        ).one()
    assert order.email == "priya.raman84@example.com"
    assert order.shopify_id == "gid://shopify/Order/5712004107983"
    assert order.placed_at == datetime(2025, 1, 6, 17, 46, tzinfo=UTC)
    assert order.data == data["orders"][0]
    assert customer.name == "Priya Raman"
    assert customer.shopify_customer_id == "gid://shopify/Customer/7301845121379"

    data["orders"] = [o for o in data["orders"] if o["name"] != "#1002"]
    write(folder, "customers_orders.json", data)
    report = await import_store(taskra, folder)
    assert report.orders == 39
    async with taskra.db.session() as session:
        names = set(await session.scalars(select(Order.name)))
    assert "#1002" not in names
    assert len(names) == 39


async def test_progress_is_reported_up_to_the_total(taskra: Taskra) -> None:
    """on_progress goes from 0 to its total, never backwards."""
    calls: list[tuple[int, int]] = []
    await import_store(
        taskra, FELLANDFORD, on_progress=lambda done, total: calls.append((done, total))
    )
    total = ITEMS + 40 + 25
    assert calls[0] == (0, total)
    assert calls[-1] == (total, total)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_html_to_text_drops_scripts_and_repairs_broken_markup() -> None:
    """Scripts, styles and comments vanish; entities decode; unclosed tags still yield text."""
    html = (
        "<p>Warm &amp; dry<script>alert(1)</script></p><style>p{}</style><!-- hidden -->"
        "<ul><li>One<li>Two</ul><p>Unclosed <b>bold"
    )
    assert html_to_text(html) == "Warm & dry\n\n- One\n- Two\n\nUnclosed bold"


def test_split_passages_never_ends_a_passage_on_a_heading() -> None:
    """Headings stay with the paragraph they head, and every passage fits the limit."""
    text = "\n\n".join(["Intro " * 40, "Heading one", "Body " * 80, "Heading two", "More " * 60])
    chunks = split_passages(text, limit=700)
    assert all(len(chunk) <= 700 for chunk in chunks)
    assert not any(chunk.endswith(("Heading one", "Heading two")) for chunk in chunks)
    assert "\n\n".join(chunks) == "\n\n".join(p.strip() for p in text.split("\n\n"))


def run_cli(database_url: str, *args: str) -> Any:
    settings = make_test_settings(database_url)
    pm = make_plugin_manager(load_entrypoints=False)
    group = click.Group(commands={"store": store})
    return CliRunner().invoke(group, ["store", *args], obj=CliState(settings, pm))


def test_cli_import_prints_the_report(database_url: str) -> None:
    """`taskra store import DIR --json` prints the counts; without --json, a one-line summary."""
    result = run_cli(database_url, "import", str(FELLANDFORD), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["domain"] == DOMAIN
    assert report["store_created"] is True
    assert (report["items_added"], report["orders"], report["customers"]) == (ITEMS, 40, 25)
    assert set(report) == set(ImportReport.__dataclass_fields__)

    again = run_cli(database_url, "import", str(FELLANDFORD))
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith(f"Updated {DOMAIN}: {ITEMS} items (0 added, 0 updated,")


def test_cli_import_of_an_invalid_folder_fails_cleanly(database_url: str, folder: Path) -> None:
    """A broken folder exits with code 1 and a message naming the file."""
    break_handle(folder)
    result = run_cli(database_url, "import", str(folder))
    assert result.exit_code == 1
    assert "products.json" in result.stderr
    assert "Traceback" not in result.output
