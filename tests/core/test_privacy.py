"""The data-subject rights through ``taskra.privacy``: export (access, portability),
erasure, rectification, objection, and the ledger that records each of them.

Real database (SQLite, or PostgreSQL when configured), the demo store imported, drafts made
by the test reply model through the real draft job.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import jsonschema
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from taskra_core import hookimpl
from taskra_core.app import Taskra
from taskra_core.clock import ManualClock
from taskra_core.demo import FELLANDFORD
from taskra_core.errors import InvalidInput, NotFound
from taskra_core.inbox.messages import InboundMessage
from taskra_core.knowledge.importer import import_store
from taskra_core.models import Customer, Draft, PrivacyExport, PrivacyRequest, Store
from taskra_core.privacy import ledger
from taskra_core.privacy.export import EXPORT_TTL, SCHEMA_PATH, SCHEMA_VERSION
from taskra_core.testing import MockModelPlugin, MockReplyModel, make_test_taskra
from taskra_core.worker import Worker
from tests.core.test_drafting_service import AS_OF, DOMAIN, PRIYA, cited

OTHER = "tom.baker@example.org"
MARKER = "quokkaboots"  # a word no demo data contains: it must vanish with the customer


class SubjectPlugin:
    """A plugin that keeps its own notes about customers (like a chat channel's sessions)."""

    __name__ = "subject-plugin"

    def __init__(self) -> None:
        self.erased: list[str | None] = []

    @hookimpl
    def export_subject_data(self, customer: Customer) -> dict[str, Any]:
        return {"notes": [f"note about {customer.email}"]}

    @hookimpl
    async def erase_subject_data(
        self, session: AsyncSession, store: Store, customer: Customer | None
    ) -> str:
        # Reads through the erasure's session: the customer is still there.
        if customer is not None:
            assert await session.get(Customer, customer.id) is not None
        self.erased.append(customer.email if customer else None)
        return "notes"


@pytest.fixture
def model() -> MockReplyModel:
    return MockReplyModel(lambda request: cited("The Skiddaw runs true to size."))


@pytest.fixture
def plugin() -> SubjectPlugin:
    return SubjectPlugin()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(AS_OF)


@pytest.fixture
async def core(
    database_url: str, model: MockReplyModel, plugin: SubjectPlugin, clock: ManualClock
) -> AsyncIterator[Taskra]:
    taskra = make_test_taskra(
        database_url,
        plugins=[MockModelPlugin(model), plugin],
        reply_model="mock",
        clock=clock,
    )
    await taskra.startup()
    await import_store(taskra, FELLANDFORD)
    try:
        yield taskra
    finally:
        await taskra.shutdown()


async def receive(taskra: Taskra, text: str, sender: str = PRIYA, name: str = "Priya") -> None:
    async with taskra.db.session() as session:
        store = await session.scalar(select(Store).where(col(Store.domain) == DOMAIN))
    assert store is not None
    assert store.id is not None
    await taskra.inbox.receive(
        store.id,
        InboundMessage(
            channel="email", from_email=sender, from_name=name, subject="Sizing", text=text
        ),
    )
    await Worker(taskra).run_until_idle()


async def rows_mentioning(taskra: Taskra, needles: Callable[[str], bool]) -> list[str]:
    """Every row of every table whose text (any column) matches: the whole database."""
    found = []
    async with taskra.db.session() as session:
        for table in SQLModel.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                text = json.dumps([str(v) for v in row], ensure_ascii=False).lower()
                if needles(text):
                    found.append(table.name)
    return found


async def test_export_is_versioned_json_with_everything_held(
    core: Taskra, plugin: SubjectPlugin
) -> None:
    """An export holds the profile, conversations, messages, AI drafts, flags, orders, the
    ledger and plugin sections, validates against the published schema, and is kept for
    download (sealed) with a completed ledger row pointing to it."""
    await receive(core, f"Does the Skiddaw come in {MARKER} size?")
    result = await core.privacy.export(DOMAIN, PRIYA.upper())
    document = result.document
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text()))
    assert (document["schema"], document["version"]) == ("taskra.subject-data", SCHEMA_VERSION)
    assert document["customer"]["email"] == PRIYA
    assert document["customer"]["ai_processing_objected"] is False
    [conversation] = document["conversations"]
    assert MARKER in conversation["messages"][0]["text"]
    assert conversation["ai_drafts"][0]["text"] == "The Skiddaw runs true to size."
    assert "#1001" in [o["name"] for o in document["orders"]]
    assert document["plugins"] == {"notes": [f"note about {PRIYA}"]}
    assert json.loads(await core.privacy.download(await _store_id(core), result.export_id)) == (
        document
    )
    async with core.db.session() as session:
        kept = await session.get(PrivacyExport, result.export_id)
        request = await session.get(PrivacyRequest, result.request_id)
    assert kept is not None
    assert kept.sealed
    assert PRIYA not in kept.data  # encrypted at rest
    assert request is not None
    assert (request.kind, request.outcome, request.result["export_id"]) == (
        "access",
        "completed",
        result.export_id,
    )


async def test_export_of_someone_unknown_says_nothing_is_held(core: Taskra) -> None:
    """A subject Taskra holds nothing on still gets a valid (empty) export and a ledger row."""
    result = await core.privacy.export(DOMAIN, "nobody@example.net")
    jsonschema.validate(result.document, json.loads(SCHEMA_PATH.read_text()))
    assert result.document["customer"] is None
    [row] = await core.privacy.requests(DOMAIN)
    assert (row["kind"], row["outcome"]) == ("access", "nothing_held")


async def test_export_expires(core: Taskra, clock: ManualClock) -> None:
    """A kept export cannot be downloaded after it expires, and the retention sweep
    (policy ``privacy_exports``) deletes it."""
    await receive(core, "Hello")
    result = await core.privacy.export(DOMAIN, PRIYA)
    clock.advance((EXPORT_TTL + timedelta(seconds=1)).total_seconds())
    with pytest.raises(NotFound):
        await core.privacy.download(await _store_id(core), result.export_id)
    report = await core.retention.run(only=["privacy_exports"])
    [result] = report.results
    assert (result.name, result.counts, result.error) == (
        "privacy_exports",
        {"privacy_exports": 1},
        None,
    )
    async with core.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(PrivacyExport)) == 0


async def test_erasure_leaves_nothing_of_the_customer_in_any_table(
    core: Taskra, plugin: SubjectPlugin
) -> None:
    """After erasure no table holds the customer's email, name or message text; the ledger
    keeps an anonymous completed row; other customers are untouched; plugins were asked."""
    await receive(core, f"My {MARKER} order is late", name="Priya Zanzibarova")
    await receive(core, "Where is my parcel?", sender=OTHER, name="Tom")
    await core.privacy.export(DOMAIN, PRIYA)  # a kept export must go too
    assert await rows_mentioning(core, lambda t: MARKER in t)  # the check can fail

    outcome = await core.privacy.erase(DOMAIN, PRIYA)

    assert outcome["outcome"] == "completed"
    assert plugin.erased == [PRIYA]
    leftovers = await rows_mentioning(
        core, lambda t: PRIYA in t or MARKER in t or "zanzibarova" in t
    )
    assert leftovers == []
    assert await rows_mentioning(core, lambda t: OTHER in t)
    rows = await core.privacy.requests(DOMAIN)
    assert {(r["kind"], r["subject"], r["outcome"]) for r in rows} == {
        ("access", ledger.ERASED_SUBJECT, "completed"),
        ("erasure", ledger.ERASED_SUBJECT, "completed"),
    }
    again = await core.privacy.erase(DOMAIN, PRIYA)  # a repeat is harmless
    assert again["outcome"] == "nothing_held"


async def test_rectification_corrects_email_and_name(core: Taskra) -> None:
    """The corrected email and name replace the old ones on the customer and the store's
    copies of their orders; the old email is gone."""
    await receive(core, "Hello")
    customer = await core.privacy.rectify(
        DOMAIN, PRIYA, new_email="Priya.R@example.com", new_name="Priya Raman"
    )
    assert (customer.email, customer.name) == ("priya.r@example.com", "Priya Raman")
    assert await rows_mentioning(core, lambda t: PRIYA in t) == []
    document = (await core.privacy.export(DOMAIN, "priya.r@example.com")).document
    assert "#1001" in [o["name"] for o in document["orders"]]


async def test_rectification_to_a_taken_email_changes_nothing(core: Taskra) -> None:
    """Bad input gets a clear error and changes nothing, not even the ledger."""
    await receive(core, "Hello")
    await receive(core, "Hi", sender=OTHER)
    with pytest.raises(InvalidInput, match="already has that email"):
        await core.privacy.rectify(DOMAIN, PRIYA, new_email=OTHER, new_name="X")
    with pytest.raises(InvalidInput):
        await core.privacy.erase(DOMAIN, "not an email")
    async with core.db.session() as session:
        names = set(await session.scalars(select(col(Customer.name))))
        assert await session.scalar(select(func.count()).select_from(PrivacyRequest)) == 0
    assert "X" not in names


async def test_objection_keeps_the_customer_away_from_the_model(
    core: Taskra, model: MockReplyModel
) -> None:
    """After an objection, the customer's messages are never sent to the model: the draft
    is left to a person, saying why. Withdrawing it lets drafting use the model again."""
    await receive(core, "First question")
    assert len(model.requests) == 1
    customer = await core.privacy.set_objection(DOMAIN, PRIYA)
    assert customer.ai_processing_objected
    await receive(core, f"Second {MARKER} question")
    assert len(model.requests) == 1
    assert all(MARKER not in r.text for r in model.requests)
    async with core.db.session() as session:
        last = (await session.scalars(select(Draft).order_by(col(Draft.id).desc()))).first()
    assert last is not None
    assert last.state == "escalated"
    assert any(r.startswith("ai_objection") for r in last.escalation_reasons)
    await core.privacy.set_objection(DOMAIN, PRIYA, objected=False)
    await receive(core, "Third question")
    assert len(model.requests) == 2
    kinds = [r["kind"] for r in await core.privacy.requests(DOMAIN)]
    assert kinds.count("objection") == 2


async def test_overdue_requests_are_counted(core: Taskra, clock: ManualClock) -> None:
    """A request open past its 30-day due date counts as overdue; completed ones do not."""
    store_id = await _store_id(core)
    async with core.db.transaction() as session:
        ledger.open_request(
            session,
            store_id=store_id,
            kind="access",
            subject=PRIYA,
            source="email",
            now=clock.now(),
        )
    await core.privacy.export(DOMAIN, OTHER)
    assert await core.privacy.counts(DOMAIN) == ledger.LedgerCounts(open=1, overdue=0)
    clock.advance(timedelta(days=31).total_seconds())
    assert await core.privacy.counts() == ledger.LedgerCounts(open=1, overdue=1)
    [overdue] = [r for r in await core.privacy.requests(DOMAIN) if r["overdue"]]
    assert overdue["kind"] == "access"


async def _store_id(taskra: Taskra) -> int:
    async with taskra.db.session() as session:
        store = await session.scalar(select(Store).where(col(Store.domain) == DOMAIN))
    assert store is not None
    assert store.id is not None
    return store.id


async def test_hook_export_subject_data(core: Taskra) -> None:
    """A plugin's export sections land under ``plugins``; the first plugin keeps a name."""
    await receive(core, "Hello")
    async with core.db.session() as session:
        store = await session.scalar(select(Store).where(col(Store.domain) == DOMAIN))
        customer = await session.scalar(select(Customer).where(col(Customer.email) == PRIYA))
        assert store is not None
        assert customer is not None
        sections = await core.hooks.export_subject_data(core, session, store, customer)
    assert sections == {"notes": [f"note about {PRIYA}"]}


async def test_hook_erase_subject_data(core: Taskra, plugin: SubjectPlugin) -> None:
    """Plugins are asked to erase a customer (with the customer) and a whole store (with
    ``None``); their labels are collected for the ledger's report."""
    await receive(core, "Hello")
    async with core.db.transaction() as session:
        store = await session.scalar(select(Store).where(col(Store.domain) == DOMAIN))
        customer = await session.scalar(select(Customer).where(col(Customer.email) == PRIYA))
        assert store is not None
        assert customer is not None
        assert await core.hooks.erase_subject_data(core, session, store, customer) == ["notes"]
        assert await core.hooks.erase_subject_data(core, session, store, None) == ["notes"]
    assert plugin.erased == [PRIYA, None]


async def test_acting_on_a_customers_own_request_answers_it(
    core: Taskra, clock: ManualClock
) -> None:
    """A request the customer's email opened (overdue by now) is completed by the export the
    merchant makes, not left open beside a new row."""
    await receive(core, "Hello")
    async with core.db.transaction() as session:
        ledger.open_request(
            session,
            store_id=await _store_id(core),
            kind="access",
            subject=PRIYA.upper(),
            source="email",
            now=clock.now(),
        )
    clock.advance(timedelta(days=31).total_seconds())
    assert (await core.privacy.counts(DOMAIN)).overdue == 1
    result = await core.privacy.export(DOMAIN, PRIYA)
    [row] = await core.privacy.requests(DOMAIN)
    assert (row["id"], row["source"], row["outcome"]) == (result.request_id, "email", "completed")
    assert await core.privacy.counts(DOMAIN) == ledger.LedgerCounts(open=0, overdue=0)
