"""Which language a customer wrote in, guessed from function words and letters.

Deterministic and dependency-free, so the offline model and tests give the same answer every
time. Short words like "de", "la", "in" belong to several languages; each occurrence is shared
between the languages that use it, so only distinctive words tip the balance. Accented letters
and French elisions ("j'ai", "l'article") count as extra evidence. English wins unless another
language is clearly ahead: a wrong "you wrote in Spanish" is worse than a missed one, and a
person reviews non-English drafts anyway.
"""

from __future__ import annotations

import re
import unicodedata

LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "it": "Italian",
    "nl": "Dutch",
    "pt": "Portuguese",
}

# Function words and support-message staples, accents removed (matched against folded text).
_WORDS_TEXT: dict[str, str] = {
    "en": """
        the and is are was were you your i it its to of for with this that have has had do
        does did can could my what will would be been on in not no at an a or but if so from
        they there their how when where which who me we our just get got please thanks thank
        hi hello hey cheers regards dear any some about should need want im ive dont cant
        wont isnt didnt doesnt haven hasn order ordered bought which than then
    """,
    "es": """
        el la los las de del que y en un una unos unas es por para con no se su sus mi mis me
        lo le les al como pero hola gracias quiero queria puedo puede tengo tiene esta este
        esto estos estas estoy son muy mas si tambien haceis hacen hace deberia usted ustedes
        cuando donde porque ya hay todo todos nos fue ser seria pedido envio envios saludos
        buenos buenas dias tardes vuestro vuestra vuestros sobre hasta desde ahora aun
        necesito podria podrian quisiera talla favor
    """,
    "fr": """
        le la les de des du et est un une je vous nous il elle ils elles pour dans avec pas ne
        que qui sur au aux ce cette ces mon ma mes ton ta tes votre vos notre nos bonjour
        bonsoir merci suis sommes sont ai avez avons etre avoir trop depuis comment mais ou
        tres aussi deja encore fait faire puis peux pouvez voudrais veux cordialement
        commande livraison taille merci madame monsieur chez quand parce leur leurs
    """,
    "de": """
        der die das und ist ich nicht ein eine einen einem mit fur auf sie es zu den dem von
        bei hallo danke bitte meine mein meinen haben habe hat wie wann kann konnen auch noch
        aber oder wir sind wird war uber nach gibt mir mich dich ihr ihre bestellung grusse
        freundlichen vielen gerne
    """,
    "it": """
        il la di che e un una per con non sono mi ho ha ciao grazie della del dei delle nel
        nella questo questa come quando vorrei posso anche ma gli le lo buongiorno salve
        sempre ancora perche ordine taglia spedizione mio mia suo sua cordiali saluti
    """,
    "nl": """
        de het een en is ik niet van dat met voor op je jij u zijn ben hallo bedankt dank
        mijn kan wat hoe wanneer ook maar of er naar bij heb hebben wil graag nog geen deze
        dit bestelling groeten vriendelijke alvast
    """,
    "pt": """
        o a os as de do da dos das que e em um uma para com nao eu meu minha ola obrigado
        obrigada por favor voce se mas como quando tambem posso esta estou sao tenho gostaria
        encomenda pedido muito mais ja ainda pode seu sua no na nos
    """,
}
_WORDS: dict[str, frozenset[str]] = {lang: frozenset(t.split()) for lang, t in _WORDS_TEXT.items()}
_SHARE: dict[str, tuple[str, ...]] = {}
for _lang, _words in _WORDS.items():
    for _word in _words:
        _SHARE[_word] = (*_SHARE.get(_word, ()), _lang)

# Letters a language uses and English does not: (pattern, languages sharing the evidence).
_LETTERS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (re.compile(r"[ñ¿¡]"), ("es",)),
    (re.compile(r"[áíóú]"), ("es", "pt", "it")),
    (re.compile(r"[œêâîûëïÿ]"), ("fr",)),
    (re.compile(r"[èù]"), ("fr", "it")),
    (re.compile(r"[ç]"), ("fr", "pt")),
    (re.compile(r"[àé]"), ("fr", "it", "pt", "es")),
    (re.compile(r"[ãõ]"), ("pt",)),
    (re.compile(r"[äöüß]"), ("de",)),
)
_ELISION = re.compile(r"(?<![\w'\u2019])(?:j|l|d|c|qu|n|m|s|t)['\u2019][a-zàâéèêëîïôûùüç]", re.I)
_WORD = re.compile(r"[^\W\d_]+")

# A language other than English needs this much evidence, and a lead over English.
_MIN_SCORE = 2.5
_LEAD = 1.5
_MIN_WORDS = 3
# Letter evidence is capped so one accented name cannot outvote the words around it.
_LETTER_CAP = 3.0


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def scores(text: str) -> dict[str, float]:
    """Evidence per language code: the basis of :func:`detect_language`, for debugging."""
    totals = dict.fromkeys(LANGUAGE_NAMES, 0.0)
    # Elided articles/pronouns are glued to the next word; counted below, not as words.
    folded = _fold(_ELISION.sub(" ", text))
    for word in _WORD.findall(folded):
        langs = _SHARE.get(word)
        if langs:
            for lang in langs:
                totals[lang] += 1.0 / len(langs)
    lowered = text.lower()
    letters = dict.fromkeys(LANGUAGE_NAMES, 0.0)
    for pattern, langs in _LETTERS:
        hits = len(pattern.findall(lowered))
        for lang in langs:
            letters[lang] += hits / len(langs)
    letters["fr"] += len(_ELISION.findall(text))
    for lang, value in letters.items():
        totals[lang] += min(value, _LETTER_CAP)
    return totals


def detect_language(text: str) -> str:
    """The ISO 639-1 code of the language ``text`` is written in; "en" when unsure."""
    if len(_WORD.findall(text)) < _MIN_WORDS:
        return "en"
    totals = scores(text)
    english = totals.pop("en")
    best = max(sorted(totals), key=lambda lang: totals[lang])
    score = totals[best]
    runner_up = max((v for lang, v in totals.items() if lang != best), default=0.0)
    if score < _MIN_SCORE or score < english * _LEAD or score <= runner_up:
        return "en"
    return best
