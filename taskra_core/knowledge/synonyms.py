"""The words customers use for the things shops write about, and a light stemmer to match them.

General ecommerce vocabulary only: nothing here names a store, a product or a question.

- ``SUPPORT_GROUPS``, ``PRODUCT_GROUPS``: words and phrases that mean the same thing; any
  member brings in the others. Support vocabulary (returns, delivery, sizing, money) marks a
  *topic*: ranking keeps room for policies and FAQs when a message raises one.
- ``RELATED``: one-way hints, a customer's word -> the store's word ("tight" -> "size"),
  including a few common misspellings.
- ``TRANSLATIONS``: common shopping words in Spanish, French and German -> English, so a
  message in another language still reaches English documents.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

# How much a document matching only the added word counts, against the customer's own word.
# A translation is the customer's word; a group member means the same; a related word only
# suggests the topic.
TRANSLATION_WEIGHT = 1.0
GROUP_WEIGHT = 0.7
RELATED_WEIGHT = 0.5

# What customers ask a shop to do or explain: returns, delivery, money, their order.
SUPPORT_GROUPS: tuple[tuple[str, ...], ...] = (
    ("return", "refund", "send back", "exchange"),
    ("exchange", "swap", "replace"),
    ("refund", "money back", "reimburse"),
    ("delivery", "shipping", "ship", "arrive", "dispatch", "postage"),
    ("courier", "carrier"),
    ("size", "sizing", "fit"),
    ("warranty", "guarantee"),
    ("faulty", "defect", "fault"),
    ("damaged", "broken", "dented", "cracked"),
    ("cancel", "cancellation"),
    ("discount", "code", "promo", "voucher", "coupon"),
    ("parcel", "tracking", "shipment"),
    ("price", "cost", "charge"),
    ("sale", "reduced", "price drop"),
    ("gift card", "gift voucher"),
    ("stock", "available", "availability", "restock"),
    ("pre order", "preorder", "back order"),
    ("payment", "instalments"),
    ("collect", "pick up", "click and collect", "collection"),
    ("delete", "erase", "remove"),
    ("personal data", "privacy", "gdpr", "data protection"),
    ("unsubscribe", "mailing list", "newsletter", "marketing"),
    ("customs", "duties", "import", "vat", "tax"),
    ("missing", "lost", "stolen", "not arrived"),
    ("account", "login", "password", "sign in"),
    ("student", "university"),
    ("split", "separately", "separate", "partial"),
    ("repair", "mend", "fix"),
    ("phone", "call", "contact"),
    ("international", "abroad", "overseas", "worldwide"),
)
# How customers describe products: matched the same way, but not a support topic.
PRODUCT_GROUPS: tuple[tuple[str, ...], ...] = (
    ("waterproof", "rain", "rainproof"),
    ("wash", "care", "clean", "laundry"),
    ("tumble dryer", "tumble dry"),
    ("gift", "present"),
    ("shop", "store"),
    ("battery", "batteries", "rechargeable"),
    ("weight", "heavy", "light", "lightweight"),
    ("dimensions", "packed size", "measurements"),
    ("ethical", "sustainable", "sustainability", "responsibly sourced"),
    ("vegan", "vegetarian", "animal"),
    ("warm", "cold", "temperature", "insulation"),
)
GROUPS = SUPPORT_GROUPS + PRODUCT_GROUPS


RELATED: dict[str, tuple[str, ...]] = {
    "big": ("size", "fit"),
    "small": ("size", "fit"),
    "tight": ("size", "fit"),
    "loose": ("size", "fit"),
    "baggy": ("size", "fit"),
    "larger": ("size",),
    "smaller": ("size",),
    "bigger": ("size",),
    "length": ("size",),
    "chest": ("size",),
    "shrink": ("wash", "care"),
    "shrunk": ("wash", "care"),
    "dryer": ("tumble dry",),
    "leaking": ("waterproof", "warranty"),
    "leak": ("waterproof", "warranty"),
    "peeling": ("warranty", "fault"),
    "delaminating": ("warranty", "fault"),
    "delaminate": ("warranty", "fault"),
    "ripped": ("warranty", "repair"),
    "torn": ("warranty", "repair"),
    "worn": ("unworn", "warranty"),
    "opened": ("unopened", "sealed"),
    "packaging": ("unopened", "original packaging"),
    "tags": ("unworn", "original tags"),
    "wear": ("warranty",),
    "track": ("tracking", "delivery"),
    "late": ("delivery",),
    "delayed": ("delivery",),
    "arrive": ("delivery",),
    "arrived": ("delivery",),
    "received": ("delivery",),
    "neighbour": ("delivered", "parcel"),
    "neighbours": ("delivered", "parcel"),
    "wrong": ("wrong item",),
    # Asking for a day is asking how fast delivery is.
    "get it by": ("delivery",),
    "arrive by": ("delivery",),
    "in time": ("delivery",),
    "monday": ("delivery",),
    "tuesday": ("delivery",),
    "wednesday": ("delivery",),
    "thursday": ("delivery",),
    "friday": ("delivery",),
    "saturday": ("delivery",),
    "sunday": ("delivery",),
    "weekend": ("delivery",),
    "receipt": ("order confirmation",),
    "confirmation": ("order confirmation",),
    "expire": ("valid",),
    "expires": ("valid",),
    "expiry": ("valid",),
    "cheaper": ("price match", "price"),
    "difference": ("price",),
    "combine": ("discount",),
    "postcode": ("delivery",),
    "abroad": ("international",),
    "overseas": ("international",),
    "country": ("international", "shipping"),
    "countries": ("international", "shipping"),
    "posted": ("delivery",),
    "post": ("delivery",),
    "send": ("delivery",),
    "deliver": ("delivery",),
    "delivered": ("delivery",),
    "collect": ("click and collect",),
    "hire": ("rent",),
    "rent": ("hire",),
    "injury": ("safety",),
    "burn": ("safety",),
    "burnt": ("safety",),
    "hurt": ("safety",),
    "unhappy": ("complaint",),
    "complain": ("complaint",),
    "chargeback": ("refund",),
    "ingredients": ("allergens",),
    "allergy": ("allergens", "ingredients"),
    "allergic": ("allergens", "ingredients"),
    # Common misspellings of words that matter here.
    "seperate": ("separate",),
    "seperately": ("separately", "split"),
    "recieve": ("receive",),
    "recieved": ("received",),
    "adress": ("address",),
    "warrenty": ("warranty",),
    "garantee": ("guarantee",),
}

# Asking about a country is asking about international delivery and import charges.
_EUROPE = (
    "austria belgium croatia cyprus czechia denmark estonia finland france germany greece "
    "hungary ireland italy latvia lithuania luxembourg malta netherlands holland poland "
    "portugal romania slovakia slovenia spain sweden espana francia alemania italia espagne "
    "allemagne italie irlande deutschland frankreich spanien italien"
)
_ELSEWHERE = (
    "norway switzerland iceland usa america canada australia zealand japan singapore "
    "noruega suiza suisse schweiz"
)
RELATED.update({country: ("international", "european union") for country in _EUROPE.split()})
RELATED.update({country: ("international",) for country in _ELSEWHERE.split()})

TRANSLATIONS: dict[str, tuple[str, ...]] = {
    # Spanish
    "talla": ("size",),
    "tallas": ("size",),
    "envio": ("shipping", "delivery"),
    "envios": ("shipping", "delivery"),
    "enviar": ("shipping", "delivery"),
    "enviais": ("shipping", "delivery"),
    "entrega": ("delivery",),
    "devolucion": ("return", "refund"),
    "devolver": ("return", "refund"),
    "reembolso": ("refund",),
    "pedido": ("order",),
    "impermeable": ("waterproof",),
    "impermeables": ("waterproof",),
    "botas": ("boots",),
    "bota": ("boot",),
    "zapatos": ("shoes",),
    "zapatillas": ("shoes",),
    "chaqueta": ("jacket",),
    "garantia": ("warranty",),
    "cambio": ("exchange",),
    "cambiar": ("exchange",),
    "precio": ("price",),
    "descuento": ("discount",),
    "cancelar": ("cancel",),
    "hombre": ("mens",),
    "mujer": ("womens",),
    "calcetines": ("socks",),
    "tienda": ("tent", "shop"),
    "mochila": ("rucksack",),
    # French
    "taille": ("size",),
    "livraison": ("delivery", "shipping"),
    "livrer": ("delivery",),
    "expedition": ("dispatch",),
    "retour": ("return",),
    "retourner": ("return",),
    "renvoyer": ("return",),
    "rembourser": ("refund",),
    "remboursement": ("refund",),
    "rembourse": ("refund",),
    "remboursee": ("refund",),
    "commande": ("order",),
    "colis": ("parcel",),
    "veste": ("jacket",),
    "doudoune": ("down jacket",),
    "chaussures": ("shoes",),
    "bottes": ("boots",),
    "garantie": ("warranty",),
    "echange": ("exchange",),
    "echanger": ("exchange",),
    "frais": ("cost", "charge"),
    "prix": ("price",),
    "remise": ("discount",),
    "reduction": ("discount",),
    "annuler": ("cancel",),
    "homme": ("mens",),
    "femme": ("womens",),
    "chaussettes": ("socks",),
    "tente": ("tent",),
    "sac": ("rucksack",),
    "douane": ("customs",),
    # German
    "grosse": ("size",),
    "versand": ("shipping",),
    "lieferung": ("delivery",),
    "ruckgabe": ("return",),
    "zurucksenden": ("return",),
    "erstattung": ("refund",),
    "ruckerstattung": ("refund",),
    "bestellung": ("order",),
    "wasserdicht": ("waterproof",),
    "jacke": ("jacket",),
    "schuhe": ("shoes",),
    "stiefel": ("boots",),
    "umtausch": ("exchange",),
    "rabatt": ("discount",),
    "stornieren": ("cancel",),
    "zoll": ("customs",),
}


def stem(word: str) -> str:
    """A light suffix stripper, enough to make "returns", "returned", "returning" one word.

    It only has to agree with itself (both sides of every comparison use it); the database's
    own stemmer does the real matching.
    """
    for suffix, repl in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + repl
            if repl == "" and len(word) >= 4 and word[-1] == word[-2] and word[-1] not in "sl":
                word = word[:-1]  # "shipped" -> "shipp" -> "ship"
            break
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]  # "arrive" / "arrived" -> "arriv"
    return word


def _stems(phrase: str) -> tuple[str, ...]:
    return tuple(stem(w) for w in phrase.split())


def _build() -> dict[str, list[tuple[tuple[str, ...], dict[str, float]]]]:
    """Entries by their first word's stem: (the whole key's stems, {expansion: weight})."""
    merged: dict[tuple[str, ...], dict[str, float]] = {}

    def add(key: str, extra: str, weight: float) -> None:
        extras = merged.setdefault(_stems(key), {})
        extras[extra] = max(weight, extras.get(extra, 0.0))

    for group in GROUPS:
        for member in group:
            for other in group:
                if other != member:
                    add(member, other, GROUP_WEIGHT)
    for source, weight in ((RELATED, RELATED_WEIGHT), (TRANSLATIONS, TRANSLATION_WEIGHT)):
        for word, targets in source.items():
            for target in targets:
                add(word, target, weight)
    table: dict[str, list[tuple[tuple[str, ...], dict[str, float]]]] = {}
    for key, extras in merged.items():
        table.setdefault(key[0], []).append((key, extras))
    return table


_TABLE = _build()
# The support vocabulary: words that say what the customer wants done, not which thing.
_TOPICS = frozenset(_stems(word) for group in SUPPORT_GROUPS for word in group)


def is_topic(term: str) -> bool:
    """Whether ``term`` (a word or phrase) is support vocabulary ("refund", "delivery")."""
    return _stems(term) in _TOPICS


# "send it back", "send my boots back", "pick them up": a phrase may have a word or two
# inside it.
_MAX_GAP = 2


def _phrase_at(stems: Sequence[str], start: int, key: tuple[str, ...]) -> bool:
    position = start
    for word in key[1:]:
        position += 1
        gap = 0
        while position < len(stems) and stems[position] != word:
            if gap == _MAX_GAP:
                return False
            position, gap = position + 1, gap + 1
        if position >= len(stems):
            return False
    return True


def expansions(message_words: Sequence[str]) -> Iterator[tuple[int, str, float]]:
    """``(position, synonym, weight)`` for every word and phrase of ``message_words`` (folded
    words, in order) that the tables know; ``position`` is where the trigger starts."""
    stems = [stem(w) for w in message_words]
    for start, first in enumerate(stems):
        for key, extras in _TABLE.get(first, ()):
            if len(key) == 1 or _phrase_at(stems, start, key):
                for extra, weight in extras.items():
                    yield start, extra, weight
