"""What a customer wants, by plain keyword rules in English, Spanish and French.

The rules run in a fixed priority order, and the first that matches decides:

1. ``complaint``: something went wrong and the customer is unhappy about it (damage, faults,
   injuries, anger, legal or chargeback threats, chasing an unanswered message). It comes
   first because an unhappy customer asking for a refund needs the complaint handled.
2. ``cancellation``: cancelling an order, before anything about swaps or returns.
3. ``discount``: codes, student offers, price drops; "get the difference back or return it"
   is about the price, not a return.
4. ``return_request``: sending something back, refunds, exchanges.
5. ``other``: topics that are not about products or deliveries (gift cards, accounts and
   personal data, the physical shop and collecting from it, what the shop sells).
6. ``order_status``: an existing order or parcel (a number, tracking, "hasn't arrived").
7. ``shipping_question`` or ``product_question``: whichever the message raises first, since
   the opening question is usually the one that matters ("Is it waterproof? Do you ship to
   Spain?" is a product question).
8. Anything else: ``product_question`` if it asks something, ``other`` if not.

Patterns match folded text (lower case, accents removed), so "envío" is written "envio".
"""

from __future__ import annotations

import re
import unicodedata

from taskra_core.drafting.types import INTENTS


def _rx(*fragments: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(fragments) + r")", re.IGNORECASE)


_COMPLAINT = _rx(
    # faults and damage
    r"damaged?\b|dented|crack(?:ed|s)?\b|broken\b|broke\b|faulty|defect|delaminat",
    r"(?:torn|ripped|split|came apart|fell apart|falling apart)\b|stopped working|snapped",
    r"(?:came|come|coming|fell|falling) off\b|peeling|(?:a )?holes? in\b",
    r"(?:leaks|leaking|leaked)\b",
    # harm and safety
    r"injur|burn(?:t|ed|s)? (?:my|his|her)|a ?& ?e\b|hospital|(?:caught|on) fire\b",
    # anger, chasing, threats
    r"disgrace|disgust|ridiculous|unacceptable|appalling|outrage|furious|fed up",
    r"shocking service|terrible service|worst|scam|(?:this|it) is a joke|(?:this|it)'?s a joke",
    r"(?:speak|talk) to (?:a|the|your) manager",
    r"(?:second|third|fourth|3rd|4th) (?:time|email|message)",
    r"still (?:no|not|haven'?t|hasn'?t) (?:had |received |got )?(?:a |my |any )?"
    r"(?:refund|reply|response|money)|nobody has (?:bothered|replied|got back)",
    r"no one has (?:bothered|replied|got back)|trading standards|small claims|solicitor|lawyer",
    r"legal action|chargeback|dispute (?:the|this|it) with|complain",
    # Spanish
    r"danad[oa]|rot[oa]s?\b|defectuos|estropead|inaceptable|verguenza|abogad|denuncia",
    r"reclamacion|queja",
    # French
    r"endommag|abime|casse\b|defectueu|inadmissible|inacceptable|scandal|avocat|plainte",
    r"reclamation",
)
_CANCELLATION = _rx(
    r"cancel|cancelar|cancelacion|anular|annul",
)
_DISCOUNT = _rx(
    r"discount|promo|coupon|voucher code",
    r"(?:discount|promo|offer|sale|my|the|your|this|a) codes?\b",
    r"codes?\b (?:isn'?t|is not|doesn'?t|does not|won'?t|not) |[a-z]+\d{1,3} code",
    r"student (?:discount|code|offer|price|card|id)|blue light|nhs discount",
    r"price (?:drop|match|adjust|reduc|promise)",
    r"(?:dropped|reduced|cheaper) (?:in|since|now|in price)|\d+ ?% (?:less|off|cheaper)",
    r"(?:the )?difference back|refund the difference",
    # Spanish
    r"descuento|cupon|codigo (?:de )?(?:descuento|promocional)|rebaja",
    # French
    r"reduction|code promo|remise",
)
_RETURN = _rx(
    r"return(?:s|ed|ing)?\b|send (?:\w+ ){0,3}back|sent (?:\w+ ){0,3}back",
    r"post (?:\w+ ){0,3}back|refund|money back|exchange(?! rate)|swap",
    r"(?:different|another|bigger|smaller) size|size (?:up|down)\b",
    # Spanish
    r"devol|devuelv|reembols|cambiar(?:la|lo|las|los)? (?:por|la talla)|cambio de talla",
    # French
    r"retourn|retour\b|rembours|echang",
)
_OTHER = _rx(
    r"gift ?cards?|gift vouchers?|gift ?wrap|pay (?:with|by|using|in)\b|paypal|klarna",
    r"apple pay|payment|charged (?:me )?(?:twice|double|two times)|invoice|vat receipt|e-?gift",
    r"delete my|close my account|my account (?:details|password|login)",
    r"(?:log|sign) ?in(?:to)? my account|(?:create|open) an account",
    r"personal (?:data|information|details)|my data\b|data protection|gdpr|subject access",
    r"unsubscribe|mailing lists?|newsletter|click (?:and|&|n) collect",
    r"pick (?:it|them|this|my order) up",
    r"collect (?:it|them|in person|from (?:you|the shop|your shop))",
    r"(?:actual|physical|real) (?:shop|store)|(?:your|the) (?:shop|store) in\b",
    r"opening (?:hours|times)",
    r"do you (?:sell|do) (?:any )?(?!(?:it|this|that|the|them|these|next|express|free)\b)[a-z]+s\b",
    r"(?:vacanc|wholesale|stockist|sponsorship)",
    # Spanish
    r"tarjeta regalo|datos personales|mi cuenta|tienda fisica|(?:vendeis|venden) ",
    # French
    r"carte cadeau|donnees personnelles|mon compte|magasin|vendez[- ]vous",
)
_ORDER_STATUS = _rx(
    r"my order|(?:my|our) (?:parcel|package|delivery|shipment)\b",
    r"order\s*(?:no\.?|number|num|#)\s*#?\s*\d|#\s*\d{3,}|tracking|track (?:my|the|it|them)",
    r"where(?:'s| is| are) (?:my|it|they|the)|on (?:its|it'?s|their) way",
    r"(?:hasn'?t|has not|haven'?t|have not|not yet|still not|never|didn'?t|did not|not) "
    r"(?:\w+ )?(?:arrived|received|turned up|been delivered|been dispatched|been sent)",
    r"still waiting|(?:been|yet) (?:dispatched|shipped|sent)|marked (?:as )?delivered",
    r"says (?:it was |it'?s |they were )?delivered",
    r"(?:weren'?t|wasn'?t|were not|was not|not) in the (?:box|parcel|package)|missing",
    r"arriving separately|coming separately|any idea when",
    r"when (?:will|would|should|do|does|can i expect) (?:my|it|they|i)\b|when (?:they|it)'?ll",
    # Spanish
    r"mi pedido|seguimiento|no (?:me )?ha(?:n)? llegado|donde esta",
    # French
    r"ma commande|suivi|mon colis|pas (?:encore )?(?:recu|arrive)|ou en est",
)
_SHIPPING = _rx(
    r"ship(?:s|ping|ped)?\b|deliver|postage|post (?:\w+ )?to\b|send (?:\w+ ){0,3}to\b|courier",
    r"customs|duties\b|import duty|import (?:tax|fee|charge)|next[- ]day|express|dispatch",
    r"abroad|international|overseas",
    r"by (?:this |next )?(?:mon|tues|wednes|thurs|fri|satur|sun)day|by the weekend|by tomorrow",
    r"if i order|how long (?:does|will|would) (?:it|delivery|shipping|postage)",
    # Spanish
    r"envi[oa]|enviais|entrega|aduana",
    # French
    r"livr|envoy|expedi|douane",
)
_PRODUCT = _rx(
    r"siz(?:e|es|ing)\b|fit(?:s|ting)?\b|come up (?:big|small|large)",
    r"run(?:s)? (?:big|small|large)|waterproof|warm enough|how warm|warmer|weigh|packed size",
    r"pack(?:s)? (?:down|small)|dimension|how (?:big|long|heavy|tall|wide)|material|fabric",
    r"made (?:of|from|in)|wash|tumble|dryer|iron\b|care (?:label|instruction)|look after",
    r"batter(?:y|ies)|charg(?:e|ing)\b|compatible|differen(?:ce|t) between|compare|recommend",
    r"suitable|(?:ethical|sourced|vegan|vegetarian)|come with|comes with|included|in stock",
    r"back in stock|colou?rs?\b|warranty|guarantee|rated|rating|breathab|lumens",
    # Spanish
    r"talla|impermeable|tamano|peso\b|lavar|calid",
    # French
    r"taille|impermeable|poids|lavage|laver|couleur|matiere",
)
_EXCHANGE = _rx(
    r"exchange|swap|(?:different|another|bigger|smaller|next) size|size (?:up|down)\b",
    r"(?:change|replace) (?:it|them|this|these) for",
    r"for (?:a|an) (?:size )?(?:xxs|xs|s|m|l|xl|xxl|\d+(?:\.5)?)\b",
    r"in (?:a|an) (?:size )?(?:xxs|xs|s|m|l|xl|xxl|\d+(?:\.5)?) instead",
    # Spanish
    r"cambi|otra talla",
    # French
    r"echang|autre taille",
)
_REFUND_WORDS = _rx(r"refund", r"money back", r"reembols", r"rembours")
_ADDRESS_CHANGE = _rx(
    r"(?:change|update|correct|amend|fix) (?:the |my |our )?(?:delivery |shipping |postal )?"
    r"address|(?:wrong|new|different|old) (?:delivery |shipping )?address",
    r"address (?:is|was) wrong",
    r"(?:send|deliver|ship) it to (?:my|a|another|a different) (?:new |work )?address",
    r"cambiar (?:la )?direccion|direccion (?:incorrecta|equivocada|nueva)",
    r"changer (?:l'|d')?adresse|(?:mauvaise|nouvelle) adresse",
)

# An order not placed yet: "if I order tonight, when would it arrive?" is about delivery.
_HYPOTHETICAL = _rx(
    r"if i (?:order|buy|place)",
    r"(?:order|ordering|buy|buying) (?:\w+ ){0,3}(?:today|tonight|now|this (?:morning|afternoon))",
    r"si (?:pido|compro|hago un pedido)|si (?:je )?commande",
)
# "When will it be back in stock?" asks about a product, not an order.
_STOCK = _rx(r"(?:back )?in stock", r"restock", r"out of stock", r"sold out")
_CONCRETE_ORDER = _rx(r"my order", r"order\s*(?:no\.?|number|#)", r"#\s*\d{3,}", r"tracking")

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u00b4": "'"})


def normalize(text: str) -> str:
    """Lower case, accents removed, curly apostrophes straightened, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_QUOTES).lower())
    folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"\s+", " ", folded).strip()


def _first(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    return match.start() if match else None


def classify_intent(text: str, subject: str = "") -> str:
    """One of :data:`~taskra_core.drafting.types.INTENTS` for a customer's message."""
    message = normalize(f"{subject}\n{text}" if subject else text)
    for intent, pattern in (
        ("complaint", _COMPLAINT),
        ("cancellation", _CANCELLATION),
        ("discount", _DISCOUNT),
        ("return_request", _RETURN),
        ("other", _OTHER),
    ):
        if pattern.search(message):
            return intent
    concrete = _CONCRETE_ORDER.search(message)
    if not concrete and _STOCK.search(message):
        return "product_question"
    if (concrete or not _HYPOTHETICAL.search(message)) and _ORDER_STATUS.search(message):
        return "order_status"
    shipping = _first(_SHIPPING, message)
    product = _first(_PRODUCT, message)
    if shipping is not None and (product is None or shipping < product):
        return "shipping_question"
    if product is not None:
        return "product_question"
    return "product_question" if "?" in message else "other"


def wants_exchange(text: str) -> bool:
    """True when a return asks for another size or colour rather than the money back."""
    message = normalize(text)
    return bool(_EXCHANGE.search(message)) and not _REFUND_WORDS.search(message)


def wants_address_change(text: str) -> bool:
    return bool(_ADDRESS_CHANGE.search(normalize(text)))


def proposed_action(intent: str, text: str) -> str | None:
    """The action a person must approve for this message, or ``None`` if there is none."""
    if intent not in INTENTS:
        return None
    if intent == "return_request":
        return "exchange" if wants_exchange(text) else "refund"
    if intent == "cancellation":
        return "cancel"
    if wants_address_change(text):
        return "address_change"
    if intent == "discount":
        return "discount"
    return None
