"""Merchant-managed FAQs and brand voice (``taskra.knowledge``): saved FAQs are searchable and
in drafting's store profile at once, bad input changes nothing, and one store's edits never
touch another's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlmodel import col

from taskra_core.app import Taskra
from taskra_core.clock import ManualClock
from taskra_core.demo import FELLANDFORD
from taskra_core.drafting.context import profile_version_and_usage
from taskra_core.drafting.types import StoreProfile
from taskra_core.errors import InvalidInput, NotFound
from taskra_core.knowledge.documents import policy_document
from taskra_core.knowledge.importer import import_store, upsert_documents
from taskra_core.models import KnowledgeItem, KnowledgePassage, Store
from taskra_core.stores import get_store
from taskra_core.testing import make_test_taskra

NOW = datetime(2025, 3, 17, 10, 0, tzinfo=UTC)
SHOP = "peakandpine.myshopify.com"
OTHER = "otherstore.myshopify.com"
GIFT = ("Do you sell gift cards?", "Yes: digital gift cards from £10, emailed within minutes.")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
async def taskra(database_url: str, clock: ManualClock) -> AsyncIterator[Taskra]:
    # A clock that stands still unless told: edits must still reach the profile cache.
    async with make_test_taskra(database_url, clock=clock) as core:
        async with core.db.transaction() as session:
            for domain, name in ((SHOP, "Peak & Pine"), (OTHER, "Other")):
                session.add(
                    Store(
                        domain=domain,
                        name=name,
                        settings={"brand_voice": f"{name} voice", "autonomy": {"default": "draft"}},
                        created_at=NOW,
                        updated_at=NOW,
                    )
                )
            await session.flush()
            shop = await get_store(session, SHOP)
            assert shop.id is not None
            # A policy stamped after the clock's now: an FAQ edit must still look newer.
            await upsert_documents(
                session,
                shop.id,
                [policy_document("REFUND_POLICY", {"title": "Refunds", "body": "30 days."})],
                NOW.replace(hour=12),
            )
        yield core


async def profile(taskra: Taskra, domain: str = SHOP) -> StoreProfile:
    """The drafting profile through its cache, as a draft reads it: the store row, and the
    profile's version read in one statement with the month's usage."""
    async with taskra.db.session() as session:
        store = await get_store(session, domain)
        assert store.id is not None
        version, _ = await profile_version_and_usage(session, store.id, "2025-03")
        return await taskra.drafting.profiles.get(session, store, version)


async def rows(taskra: Taskra) -> list[tuple[object, ...]]:
    """Every knowledge item and passage of every store: what "changes nothing" compares."""
    async with taskra.db.session() as session:
        items = await session.execute(
            select(KnowledgeItem.source_id, KnowledgeItem.body, KnowledgeItem.updated_at).order_by(
                col(KnowledgeItem.id)
            )
        )
        passages = await session.execute(
            select(KnowledgePassage.source_id, KnowledgePassage.text).order_by(
                col(KnowledgePassage.id)
            )
        )
        return [tuple(r) for r in items] + [tuple(r) for r in passages]


async def test_save_creates_then_updates_and_lists_by_key(taskra: Taskra) -> None:
    """Saving a new key creates the FAQ; saving it again replaces it; the list is by key."""
    created = await taskra.knowledge.save_faq(SHOP, "gift-cards", *GIFT)
    assert (created.key, created.source_id, created.question) == (
        "gift-cards",
        "faq:gift-cards",
        GIFT[0],
    )
    await taskra.knowledge.save_faq(SHOP, "a-first", "  Padded question?  ", "Answer.\n")
    updated = await taskra.knowledge.save_faq(SHOP, "gift-cards", GIFT[0], "No, not yet.")
    assert updated.answer == "No, not yet."
    listed = await taskra.knowledge.list_faqs(SHOP)
    assert [(f.key, f.question, f.answer) for f in listed] == [
        ("a-first", "Padded question?", "Answer."),
        ("gift-cards", GIFT[0], "No, not yet."),
    ]


async def test_delete_removes_the_faq_and_a_missing_key_is_not_found(taskra: Taskra) -> None:
    """Delete removes the item and its passages; deleting it again is NotFound."""
    await taskra.knowledge.save_faq(SHOP, "gift-cards", *GIFT)
    await taskra.knowledge.delete_faq(SHOP, "gift-cards")
    assert await taskra.knowledge.list_faqs(SHOP) == []
    assert not [r for r in await rows(taskra) if r[0] == "faq:gift-cards"]
    with pytest.raises(NotFound, match="gift-cards"):
        await taskra.knowledge.delete_faq(SHOP, "gift-cards")


@pytest.mark.parametrize(
    ("key", "question", "answer", "message"),
    [
        ("Gift-Cards", *GIFT, "lower-case"),
        ("-gift", *GIFT, "lower-case"),
        ("gift cards", *GIFT, "lower-case"),
        ("faq:gift", *GIFT, "lower-case"),
        ("g" * 81, *GIFT, "1 to 80"),
        ("", *GIFT, "1 to 80"),
        ("gift-cards", "   ", GIFT[1], "question must be 1 to 500"),
        ("gift-cards", "q" * 501, GIFT[1], "question must be 1 to 500"),
        ("gift-cards", GIFT[0], "", "answer must be 1 to 10000"),
        ("gift-cards", GIFT[0], "a" * 10_001, "answer must be 1 to 10000"),
    ],
)
async def test_invalid_faqs_are_refused_and_change_nothing(
    taskra: Taskra, key: str, question: str, answer: str, message: str
) -> None:
    """Each bad key, question or answer is InvalidInput naming the rule; no row changes,
    including the FAQ the bad save would have replaced."""
    await taskra.knowledge.save_faq(SHOP, "gift-cards", *GIFT)
    before = await rows(taskra)
    with pytest.raises(InvalidInput, match=message):
        await taskra.knowledge.save_faq(SHOP, key, question, answer)
    assert await rows(taskra) == before


async def test_limits_are_inclusive(taskra: Taskra) -> None:
    """An 80-character key, 500-character question and 10,000-character answer are fine."""
    faq = await taskra.knowledge.save_faq(SHOP, "k" * 80, "q" * 500, "a" * 10_000)
    assert (len(faq.key), len(faq.question), len(faq.answer)) == (80, 500, 10_000)


async def test_faqs_are_scoped_to_their_store(taskra: Taskra) -> None:
    """The same key in two stores is two FAQs; listing, searching and deleting one store's
    leaves the other's alone, and another store's FAQ cannot be deleted through this one."""
    await taskra.knowledge.save_faq(SHOP, "gift-cards", *GIFT)
    await taskra.knowledge.save_faq(OTHER, "gift-cards", "Gift vouchers?", "Other's answer.")
    await taskra.knowledge.save_faq(OTHER, "other-only", "Other question?", "Other answer.")
    assert [f.answer for f in await taskra.knowledge.list_faqs(SHOP)] == [GIFT[1]]
    with pytest.raises(NotFound):
        await taskra.knowledge.delete_faq(SHOP, "other-only")
    await taskra.knowledge.delete_faq(SHOP, "gift-cards")
    assert [f.key for f in await taskra.knowledge.list_faqs(OTHER)] == ["gift-cards", "other-only"]
    hits = await taskra.knowledge.search(OTHER, "gift vouchers")
    assert [h.source_id for h in hits] == ["faq:gift-cards"]
    assert await taskra.knowledge.search(SHOP, "gift vouchers") == []


async def test_search_finds_a_saved_faq_at_once_and_not_after_delete(taskra: Taskra) -> None:
    """The full-text index follows saves, edits and deletes in the same transaction."""
    assert await taskra.knowledge.search(SHOP, "gift cards") == []
    await taskra.knowledge.save_faq(SHOP, "gift-cards", *GIFT)
    [hit] = await taskra.knowledge.search(SHOP, "Can I buy a gift card?")
    assert hit.source_id == "faq:gift-cards"
    await taskra.knowledge.save_faq(SHOP, "gift-cards", "Do you sell vouchers?", "Yes, from £5.")
    assert [h.source_id for h in await taskra.knowledge.search(SHOP, "vouchers")] == [
        "faq:gift-cards"
    ]
    assert await taskra.knowledge.search(SHOP, "minutes") == []  # the old answer is gone
    await taskra.knowledge.delete_faq(SHOP, "gift-cards")
    assert await taskra.knowledge.search(SHOP, "vouchers") == []


async def test_drafting_profile_sees_every_faq_change_with_a_still_clock(
    taskra: Taskra, clock: ManualClock
) -> None:
    """The cached profile is re-read after a save, an edit at the same instant, and a
    delete, although the clock never moves and a policy is stamped later than "now"."""
    assert (await profile(taskra)).faqs == ()
    await taskra.knowledge.save_faq(SHOP, "gift-cards", *GIFT)
    [faq] = (await profile(taskra)).faqs
    assert (faq.source_id, faq.title, faq.text) == ("faq:gift-cards", *GIFT)
    await taskra.knowledge.save_faq(SHOP, "gift-cards", GIFT[0], "Not yet, sorry.")
    assert [f.text for f in (await profile(taskra)).faqs] == ["Not yet, sorry."]
    await taskra.knowledge.save_faq(SHOP, "gift-cards", GIFT[0], "Yes, again.")
    assert [f.text for f in (await profile(taskra)).faqs] == ["Yes, again."]
    await taskra.knowledge.delete_faq(SHOP, "gift-cards")
    assert (await profile(taskra)).faqs == ()
    assert clock.now() == NOW


async def test_saving_an_unchanged_faq_writes_nothing(taskra: Taskra, clock: ManualClock) -> None:
    """Same question and answer again: no new timestamp, so the profile stays cached."""
    first = await taskra.knowledge.save_faq(SHOP, "gift-cards", *GIFT)
    clock.advance(60)
    again = await taskra.knowledge.save_faq(SHOP, "gift-cards", *GIFT)
    assert again.updated_at == first.updated_at


async def test_brand_voice_is_read_set_and_reaches_the_profile(
    taskra: Taskra, clock: ManualClock
) -> None:
    """The voice is stored in the store's settings (other settings kept), bumps the store's
    updated_at, shows in the drafting profile at once, and is only this store's."""
    assert await taskra.knowledge.brand_voice(SHOP) == "Peak & Pine voice"
    assert (await profile(taskra)).brand_voice == "Peak & Pine voice"
    clock.advance(60)
    saved = await taskra.knowledge.set_brand_voice(SHOP, "  Warm, brief, no exclamation marks. ")
    assert saved == "Warm, brief, no exclamation marks."
    assert await taskra.knowledge.brand_voice(SHOP) == saved
    assert (await profile(taskra)).brand_voice == saved
    async with taskra.db.session() as session:
        store = await get_store(session, SHOP)
    assert store.settings["autonomy"] == {"default": "draft"}
    assert store.updated_at == clock.now()
    assert await taskra.knowledge.brand_voice(OTHER) == "Other voice"
    assert await taskra.knowledge.set_brand_voice(SHOP, "") == ""
    assert (await profile(taskra)).brand_voice == ""


async def test_too_long_brand_voice_is_refused_and_changes_nothing(taskra: Taskra) -> None:
    """Over 10,000 characters is InvalidInput and the old voice stays; 10,000 is fine."""
    with pytest.raises(InvalidInput, match="at most 10000"):
        await taskra.knowledge.set_brand_voice(SHOP, "v" * 10_001)
    assert await taskra.knowledge.brand_voice(SHOP) == "Peak & Pine voice"
    assert len(await taskra.knowledge.set_brand_voice(SHOP, "v" * 10_000)) == 10_000


async def test_an_unknown_store_is_not_found(taskra: Taskra) -> None:
    """Every method names the store; a domain with no store is NotFound, not a new store."""
    with pytest.raises(NotFound):
        await taskra.knowledge.save_faq("nowhere.myshopify.com", "gift-cards", *GIFT)
    with pytest.raises(NotFound):
        await taskra.knowledge.set_brand_voice("nowhere.myshopify.com", "Hi.")


async def test_reimporting_the_store_folder_keeps_the_merchants_edits(database_url: str) -> None:
    """The store folder only seeds a store: after a merchant edits an imported FAQ, adds one,
    deletes one and rewrites the brand voice in the app, importing the folder again changes
    none of that, and still refreshes everything else."""
    async with make_test_taskra(database_url) as core:
        await import_store(core, FELLANDFORD)
        domain = "fellandford.myshopify.com"
        await core.knowledge.save_faq(domain, "sizing-guide", "How do sizes run?", "True to size.")
        await core.knowledge.save_faq(domain, "gift-cards", *GIFT)
        await core.knowledge.delete_faq(domain, "exchanges")
        await core.knowledge.set_brand_voice(domain, "Short and cheerful.")

        report = await import_store(core, FELLANDFORD)

        faqs = {faq.key: faq for faq in await core.knowledge.list_faqs(domain)}
        assert faqs["sizing-guide"].answer == "True to size."
        assert faqs["gift-cards"].question == GIFT[0]
        assert "exchanges" not in faqs
        assert "kids-sizing" in faqs  # untouched imported FAQs are still there
        assert await core.knowledge.brand_voice(domain) == "Short and cheerful."
        assert report.items_removed == 0
        assert report.items_added == 0
        hits = await core.knowledge.search(domain, "exchange a different size")
        assert "faq:exchanges" not in [hit.source_id for hit in hits]
