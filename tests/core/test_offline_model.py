"""The offline reply model and its rules: language detection, intents, grounded drafts.

Drafts run against the packaged Fell & Ford demo store, with knowledge search and order
look-ups done by Taskra itself, so the tests see what the drafting pipeline will see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlmodel import col

from taskra_core.app import Taskra
from taskra_core.default_plugins import orders as orders_plugin
from taskra_core.demo import FELLANDFORD
from taskra_core.drafting.intents import classify_intent, proposed_action
from taskra_core.drafting.language import LANGUAGE_NAMES, detect_language
from taskra_core.drafting.offline import OfflineReplyModel
from taskra_core.drafting.orders import Sender
from taskra_core.drafting.tools import ToolBox
from taskra_core.drafting.types import INTENTS, DraftRequest, ModelReply, Source, StoreProfile
from taskra_core.knowledge.importer import import_store
from taskra_core.models import KnowledgeItem, Store

NOW = datetime(2025, 3, 17, 10, 0, tzinfo=UTC)  # the demo data's "as of"
HANNAH = "hannah.fletcher@example.com"  # owns #1034, in transit with Royal Mail
JESS = "jess.armstrong@example.org"  # owns #1019, a GPS watch delivered 4 March
PRIYA = "priya.raman84@example.com"  # owns #1038, not dispatched yet
SIGN_OFF = "Best wishes,\nFell & Ford customer support"


# -- language -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Hola, ¿las botas son impermeables de verdad? Normalmente uso un 42 europeo, "
            "¿qué talla debería pedir? Gracias, Javier",
            "es",
        ),
        ("Buenos días, quiero devolver la chaqueta porque me queda grande. Un saludo", "es"),
        (
            "Bonjour, j'ai reçu la doudoune il y a deux semaines mais elle est trop grande. "
            "Je voudrais la retourner. Merci d'avance",
            "fr",
        ),
        ("Bonjour, est-ce que vous livrez en Belgique ? Merci", "fr"),
        ("Hallo, ich habe eine Jacke bestellt und sie ist noch nicht angekommen. Danke", "de"),
        ("Buongiorno, vorrei sapere quando arriva il mio ordine. Grazie mille", "it"),
        ("Hallo, ik heb een jas besteld maar ik heb nog geen bevestiging gekregen.", "nl"),
        ("Olá, eu gostaria de saber se vocês enviam para Portugal. Obrigado", "pt"),
        (
            "I'm looking at the Skiddaw waterproof but can't decide between L and XL. "
            "Does it come up big or small?",
            "en",
        ),
        ("Is the jacket OK for the Picos de Europa and the Côte d'Azur in spring?", "en"),
        ("hiya does the kestrel 400 run off normal batteries??", "en"),
    ],
)
def test_detect_language(text: str, expected: str) -> None:
    """Spanish, French and the other supported languages are recognised from their function
    words; English messages that mention foreign place names stay English."""
    assert detect_language(text) == expected


@pytest.mark.parametrize("text", ["", "ok", "Hola", "merci!", "Scafell 42 EU?", "la la la"])
def test_short_or_ambiguous_text_is_english(text: str) -> None:
    """Too little to go on means English: a wrong "you wrote in Spanish" is the worse error."""
    assert detect_language(text) == "en"


def test_language_names_cover_every_detected_code() -> None:
    """Every code the detector can return has a name to put in a human reason."""
    assert LANGUAGE_NAMES["es"] == "Spanish"
    assert LANGUAGE_NAMES["fr"] == "French"
    assert set(LANGUAGE_NAMES) == {"en", "es", "fr", "de", "it", "nl", "pt"}


# -- intents ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Does the Helvellyn come up small? I'm usually a medium.", "product_question"),
        ("Is the Kinder gaiter compatible with my Scafell boots?", "product_question"),
        ("When will the Ullswater 1 be back in stock?", "product_question"),
        ("Bonjour, la veste est-elle imperméable ? Quelle taille choisir ?", "product_question"),
        ("Hi, I'd like to return the fleece, it's too big. How do I do that?", "return_request"),
        ("Hola, quiero devolver la chaqueta, es demasiado grande.", "return_request"),
        ("My parcel still hasn't arrived and it's been 10 days", "order_status"),
        ("Hola, ¿cuándo llegará mi pedido? Lo hice el lunes.", "order_status"),
        ("How much is delivery to Ireland and how long does it take?", "shipping_question"),
        ("if I order tonight would it arrive by Saturday?", "shipping_question"),
        ("The jacket I received has a ripped seam, really disappointed", "complaint"),
        ("Bonjour, je voudrais annuler ma commande #1039 s'il vous plaît.", "cancellation"),
        ("Is there a discount for mountain rescue volunteers?", "discount"),
        ("Can I pay with Klarna?", "other"),
        ("Please take me off your mailing list.", "other"),
    ],
)
def test_classify_intent(text: str, expected: str) -> None:
    """Keyword rules in English, Spanish and French give the intent a person would give."""
    assert classify_intent(text) == expected


def test_intent_priority_order() -> None:
    """When a message has several signals, the documented priority order decides."""
    # An unhappy customer asking for a refund is a complaint first.
    assert classify_intent("Third email! I want a refund or I go to my lawyer.") == "complaint"
    # "Cancel it, or swap it" is a cancellation, not an exchange.
    assert classify_intent("Can you cancel it please, or just swap it?") == "cancellation"
    # A price drop mentioning a return is about the price.
    assert classify_intent("It's 20% less now; get the difference back or return it?") == (
        "discount"
    )
    # The question asked first wins between product and delivery.
    assert classify_intent("Is it waterproof? Do you ship to Spain?") == "product_question"
    assert classify_intent("Do you ship to Spain? Is it waterproof?") == "shipping_question"
    # The subject counts too.
    assert classify_intent("Any update?", subject="Order #1034") == "order_status"
    assert classify_intent("thanks for your help!") == "other"
    assert all(classify_intent(text) in INTENTS for text in ("", "?", "¿"))


@pytest.mark.parametrize(
    ("intent", "text", "expected"),
    [
        ("return_request", "Can I get a full refund?", "refund"),
        ("return_request", "Can I swap them for a 7.5?", "exchange"),
        ("return_request", "Can I send them back or swap for XL?", "exchange"),
        ("return_request", "Je voudrais la retourner et être remboursée.", "refund"),
        ("cancellation", "Please cancel order #1038", "cancel"),
        (
            "order_status",
            "I've moved, can you change the delivery address on #1040?",
            ("address_change"),
        ),
        ("discount", "Can I use two codes?", "discount"),
        ("product_question", "Is it waterproof?", None),
        ("complaint", "It arrived broken.", None),
        ("not-an-intent", "Please cancel", None),
    ],
)
def test_proposed_action(intent: str, text: str, expected: str | None) -> None:
    """Actions a person must approve follow the intent; exchanges and address changes are
    read from the text."""
    assert proposed_action(intent, text) == expected


# -- drafting -----------------------------------------------------------------------------


@dataclass
class Shop:
    taskra: Taskra
    store: Store
    profile: StoreProfile
    documents: dict[str, Source]


@pytest.fixture
async def shop(taskra: Taskra) -> Shop:
    """The demo store imported into a fresh Taskra, with its documents as sources."""
    if not taskra.pm.is_registered(orders_plugin):
        taskra.pm.register(orders_plugin, name=orders_plugin.__name__)
    await import_store(taskra, FELLANDFORD)
    async with taskra.db.session() as session:
        query = select(Store).where(col(Store.domain) == "fellandford.myshopify.com")
        store = (await session.scalars(query)).one()
        items = await session.scalars(
            select(KnowledgeItem).where(col(KnowledgeItem.store_id) == store.id)
        )
        documents = {i.source_id: Source(i.source_id, i.title, i.body) for i in items}
    profile = StoreProfile(
        name="Fell & Ford",
        domain=store.domain,
        currency="GBP",
        brand_voice="Warm and plain-spoken.",
        policies=tuple(s for k, s in sorted(documents.items()) if k.startswith("policy:")),
        faqs=tuple(s for k, s in sorted(documents.items()) if k.startswith("faq:")),
    )
    return Shop(taskra, store, profile, documents)


async def make_request(
    shop: Shop,
    text: str,
    email: str | None,
    *,
    subject: str = "",
    now: datetime = NOW,
    customer_name: str | None = None,
    sources: tuple[Source, ...] | None = None,
) -> DraftRequest:
    """A request as the pipeline builds it: searched sources, the sender's own orders."""
    if sources is None:
        hits = await shop.taskra.knowledge.search(shop.store, f"{subject}\n{text}", k=4)
        sources = tuple(shop.documents[hit.source_id] for hit in hits)
    tools = ToolBox(
        shop.taskra,
        shop.store,
        shop.profile,
        Sender(email=email),
        shown={s.source_id for s in sources},
    )
    orders, _ = await tools.owned_orders(text)
    return DraftRequest(
        store=shop.profile,
        channel="email",
        text=text,
        subject=subject,
        now=now,
        tools=tools,
        customer_name=customer_name,
        sources=sources,
        orders=tuple(orders),
    )


async def draft(request: DraftRequest) -> ModelReply:
    return await OfflineReplyModel().draft(request)


ORDER_QUESTION = (
    "Hello, I ordered a Wasdale rucksack on Thursday night and haven't had a single email "
    "since. I'm heading up to the Lakes on Wednesday - is it actually on its way?? Hannah"
)
WATCH_RETURN = (
    "hi i got the ridgeline watch a couple of weeks ago but honestly its not for me, way too "
    "bulky on my wrist. can i get a full refund? its in perfect condition"
)


async def test_spanish_message_gets_english_reply_and_a_human(shop: Shop) -> None:
    """A Spanish message is detected as Spanish, answered in English from the sources, and
    marked for a person with a reason that says why."""
    request = await make_request(
        shop,
        "Hola, ¿las botas Scafell de hombre son impermeables de verdad? Normalmente uso un "
        "42 europeo, ¿qué talla UK debería pedir? Gracias, Javier",
        "javier.ortega@example.com",
        subject="Botas Scafell - talla",
    )
    reply = await draft(request)
    assert reply.language == "es"
    assert reply.intent == "product_question"
    assert reply.needs_human
    assert "the customer wrote in Spanish; the offline model replies in English" in (
        reply.human_reasons
    )
    assert detect_language(reply.text) == "en"
    assert reply.text.startswith("Hello,\n\n")
    assert reply.text.endswith(SIGN_OFF)
    assert reply.confidence <= 0.4


async def test_order_status_for_the_owner_quotes_tracking(shop: Shop) -> None:
    """The order's owner is told the carrier, tracking number and estimated delivery (relative
    to request.now), greeted by first name, and the order is cited."""
    request = await make_request(
        shop, ORDER_QUESTION, HANNAH, subject="Order #1034", customer_name="Hannah Fletcher"
    )
    reply = await draft(request)
    assert reply.intent == "order_status"
    assert reply.text.startswith("Hi Hannah,\n\n")
    assert "Royal Mail" in reply.text
    assert "TT092944901GB" in reply.text
    assert "delivery estimated for Tuesday 18 March, tomorrow" in reply.text
    assert reply.sources[0] == "order:#1034"
    assert not reply.needs_human
    assert not reply.proposals
    assert not request.tools.verification_needed
    # Every citation is something the model was shown.
    assert request.tools.known_sources(list(reply.sources)) == reply.sources


async def test_order_status_from_another_email_asks_for_details(shop: Shop) -> None:
    """The same question from an address that did not place the order reveals nothing about
    it: the reply asks for the order number and email, and cites no order."""
    request = await make_request(
        shop, ORDER_QUESTION, "someone.else@example.net", subject="Order #1034"
    )
    reply = await draft(request)
    assert request.tools.verification_needed
    assert "order number and the email address used to place the order" in reply.text
    for secret in ("TT092944901GB", "Royal Mail", "Wasdale 45+10", "18 March"):
        assert secret not in reply.text
    assert not any(source.startswith("order:") for source in reply.sources)
    assert not reply.proposals


async def test_return_inside_window_proposes_a_refund(shop: Shop) -> None:
    """A return 13 days after delivery is inside the 30-day window: the reply says so with the
    last day, cites the refund policy and the order, and proposes (never makes) a refund."""
    request = await make_request(shop, WATCH_RETURN, JESS, customer_name="Jess Armstrong")
    reply = await draft(request)
    assert reply.intent == "return_request"
    assert "delivered on Tuesday 4 March, 13 days ago" in reply.text
    assert "within our 30-day return window from delivery" in reply.text
    assert "until Thursday 3 April (17 days left)" in reply.text
    assert {"policy:REFUND_POLICY", "order:#1019"} <= set(reply.sources)
    assert [(p.action, p.order) for p in reply.proposals] == [("refund", "#1019")]
    assert "within the 30-day return window" in reply.proposals[0].details
    # A routine return is not an escalation, and nothing claims the refund happened.
    assert not reply.needs_human
    assert "has been refunded" not in reply.text
    assert "refund has been" not in reply.text


async def test_return_window_moves_with_request_now(shop: Shop) -> None:
    """The same return asked later is outside the window: dates are counted from
    request.now, not the wall clock, and a refusal-shaped answer goes to a person."""
    later = datetime(2025, 4, 10, 9, 0, tzinfo=UTC)
    request = await make_request(shop, WATCH_RETURN, JESS, now=later)
    reply = await draft(request)
    assert "delivered on Tuesday 4 March, 37 days ago" in reply.text
    assert "outside our 30-day return window from delivery, which ended on Thursday 3 April" in (
        reply.text
    )
    assert reply.needs_human
    assert "return requested outside the 30-day return window" in reply.human_reasons


async def test_delivery_estimate_moves_with_request_now(shop: Shop) -> None:
    """An estimate in the future reads "tomorrow"; three days later it has passed and the
    reply says the carrier has not confirmed delivery."""
    tomorrow = await draft(await make_request(shop, ORDER_QUESTION, HANNAH, subject="#1034"))
    assert "Tuesday 18 March, tomorrow" in tomorrow.text
    later = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)
    late = await draft(await make_request(shop, ORDER_QUESTION, HANNAH, now=later))
    assert "delivery was estimated for Tuesday 18 March, 2 days ago" in late.text
    assert "has not confirmed it yet" in late.text


async def test_product_question_quotes_and_cites_the_product(shop: Shop) -> None:
    """A product question is answered with the product page's own sentences, cited."""
    request = await make_request(
        shop,
        "Hi, does the Ennerdale 28 come with a rain cover? If not which one do I need? Steve",
        "steve.rigby@example.com",
        subject="Rain cover for Ennerdale 28",
    )
    reply = await draft(request)
    assert reply.intent == "product_question"
    assert reply.sources[0] == "product:ennerdale-28-daypack"
    assert "A rain cover isn't included - the Rucksack Rain Cover in size M fits it." in (
        reply.text
    )
    assert not reply.needs_human
    assert reply.confidence >= 0.55
    assert len(reply.text.split()) <= 125


async def test_no_sources_escalates(shop: Shop) -> None:
    """With no sources and no orders there is nothing to ground an answer: the reply says the
    team will answer, cites nothing, and goes to a person with the no-grounding reason."""
    request = await make_request(
        shop, "Do you sell kayaks or SUP boards?", "jordan.hale@example.net", sources=()
    )
    reply = await draft(request)
    assert reply.sources == ()
    assert reply.needs_human
    assert any(reason.startswith("no grounding source:") for reason in reply.human_reasons)
    assert "passed your question to the team" in reply.text
    assert reply.confidence == 0.4


async def test_unrelated_sources_escalate_too(shop: Shop) -> None:
    """Search always returns something; documents sharing too little with the message are
    not quoted as if they answered it."""
    request = await make_request(shop, "do you sell kayaks or sup boards?", "j@example.net")
    assert request.sources  # search found something...
    reply = await draft(request)
    assert reply.sources == ()  # ...but none of it answers the question
    assert any(reason.startswith("no grounding source:") for reason in reply.human_reasons)


async def test_cancellation_is_proposed_not_done(shop: Shop) -> None:
    """A cancellation states the order's facts and the policy, and proposes the cancellation
    for a person to approve without saying it has happened."""
    request = await make_request(
        shop,
        "Hi, I placed an order last night (#1038) for the womens Langdale fleece but picked "
        "the wrong colour. Can you cancel it please and I'll re-order. Priya",
        PRIYA,
        subject="wrong colour!!",
    )
    reply = await draft(request)
    assert reply.intent == "cancellation"
    assert "It has not been dispatched yet." in reply.text
    assert [(p.action, p.order) for p in reply.proposals] == [("cancel", "#1038")]
    assert "order:#1038" in reply.sources
    assert "has been cancelled" not in reply.text
    assert "have cancelled" not in reply.text


async def test_exchange_without_an_order_quotes_the_policy(shop: Shop) -> None:
    """A sender with no orders asking to swap sizes gets the policy's return window, a
    request for the order details, and an exchange proposal with no order attached."""
    request = await make_request(
        shop,
        "Hello, I ordered 2 pairs of the midweight merino socks in L but they're too small. "
        "They're still in the packaging. Can I send them back or swap for XL? Greg",
        "greg.tan@example.net",
    )
    reply = await draft(request)
    assert "within 30 days of the date it was delivered" in reply.text
    assert "order number and the email address" in reply.text
    assert "policy:REFUND_POLICY" in reply.sources
    assert [(p.action, p.order) for p in reply.proposals] == [("exchange", None)]


async def test_drafts_are_deterministic_and_offline(shop: Shop) -> None:
    """Same request, same reply; the reply reports the offline model, no tokens, one round,
    and OfflineReplyModel takes Taskra's settings like any registered model."""
    request = await make_request(shop, WATCH_RETURN, JESS)
    model = OfflineReplyModel(shop.taskra.settings)
    first, second = await model.draft(request), await model.draft(request)
    assert first == second
    assert model.name == first.model == "offline"
    assert first.usage.total == 0
    assert first.rounds == 1
    assert first.text.endswith(SIGN_OFF)
