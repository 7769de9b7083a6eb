"""From a customer's message to a full-text query: drop the chatter, keep the words that can
find a document, add the store's words for the same things.

Customers write "can I send these back?", stores write "returns within 30 days"; customers
write greetings, sign-offs, quoted replies and signatures that match every document a little.
:func:`build_query` strips that noise, removes stop words, and expands what is left with
:mod:`taskra_core.knowledge.synonyms`, keeping each word with its synonyms as one
:class:`Concept`, the neighbouring word pairs, and which sentence asked for what (see
:mod:`taskra_core.knowledge.ranking`). Every term is plain letters and digits, so a query
can never carry search syntax into FTS5 or ``to_tsquery``.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from taskra_core.errors import InvalidInput
from taskra_core.knowledge.synonyms import expansions, is_topic, stem

# Long messages are cut, not refused: the opening paragraphs say what the customer wants, and
# an unbounded query would make the index do unbounded work.
MAX_MESSAGE_CHARS = 8_000
MAX_TERMS = 40
MAX_WORDS = 80  # terms plus synonyms
MAX_SEGMENTS = 12  # sentences ranked on their own

# One string, split once: a list literal of 400 words would fill 400 lines.
_STOP_WORDS_TEXT = """
    a about above after again against all am an and any are aren as at be because been before
    being below between both but by can cannot could couldn did didn do does doesn doing don
    down during each few for from further had hadn has hasn have haven having he her here hers
    herself him himself his how i if in into is isn it its itself just let me more most mustn
    my myself no nor not now of off on once only or other ought our ours ourselves out over
    own same shan she should shouldn so some such than that the their theirs them themselves
    then there these they this those through to too under until up very was wasn we were weren
    what when where which while who whom why will with won would wouldn you your yours
    yourself yourselves s t d ll m re ve y im ive id youre thats theres whats dont cant wont
    isnt didnt doesnt hasnt havent wasnt arent couldnt wouldnt shouldnt hi hello hey hiya heya
    dear thanks thank thanx thx ta cheers regards please pls plz kind lol haha ok okay yes
    yeah yep sure oh um hmm anyway btw fyi asap really actually basically also still even just
    quite rather pretty maybe perhaps probably bit lot lots much many something anything
    everything nothing someone anyone thing things stuff way get got gets getting know knew
    let want wanted wants need needed needs like would could should might may must shall will
    can wondering wonder wondered question questions quick help hoping hope tell asking ask
    asked said say says think thought guess sorry able go going goes went come came make made
    take took see seen look looking looked one two ever never every already yet soon since ago
    day days week weeks today tomorrow tonight yesterday last next time times back el la los
    las un una unos unas de del y o que en por para con sin se su sus mi mis es son estoy esta
    este esto hola gracias saludos quiero puedo debo hay muy mas pero como cuando le les du
    des et ou qui je tu il elle nous vous ils elles est sont mon ma mes ton ta tes pour avec
    sans dans sur pas ne ce cette ces bonjour merci cordialement avoir etre fait der die das
    den dem ein eine einen und oder ist sind ich du er sie wir ihr mit fur auf nicht zu von
    bei hallo danke
    bought buy buying purchased ordered instead stay staying nearby mostly odd first second
    third reply replied emailed nobody bother bothered barely hear heard great good nice
    lovely awesome turned coming forgotten forget try tried trying use used using put keep
    kept give gave find found work works working fine happy totally definitely absolutely
    honestly literally seriously whole anybody somebody everyone everybody wife husband
    son daughter mum mom dad friend mate kids guys though although however otherwise either
    neither else ill theyre theyve weve youve hes shes lets itll thatll wouldve couldve
    shouldve werent
"""
_STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())
# Two-letter words worth searching for; other words that short are noise.
_KEEP_SHORT = frozenset({"xs", "xl", "uk", "eu", "us", "3l"})

_GREETING_WORDS = (
    r"hi|hello|hey|hiya|heya|howdy|greetings|dear|good\s+(?:morning|afternoon|evening|day)"
    r"|morning|afternoon|evening|hola|buenos\s+d[ií]as|buenas(?:\s+tardes|\s+noches)?"
    r"|bonjour|bonsoir|salut|hallo|guten\s+(?:tag|morgen)|ciao"
)
_GREETING = re.compile(rf"^\s*(?:{_GREETING_WORDS})\b", re.IGNORECASE)
_SIGN_OFF_WORDS = (
    r"thanks|thank\s+you|thx|ta|cheers|regards|best|all\s+the\s+best|many\s+thanks"
    r"|kind\s+regards|best\s+regards|warm\s+regards|best\s+wishes|sincerely|yours"
    r"|thanks\s+(?:so|very)\s+much|thanks\s+in\s+advance|take\s+care|speak\s+soon|love"
    r"|gracias|saludos|un\s+saludo|merci(?:\s+d'avance)?|cordialement|bien\s+[àa]\s+vous"
    r"|danke|viele\s+gr[üu]+(?:ss|ß)e|mfg|gr[üu]+(?:ss|ß)e"
)
_SIGN_OFF_LINE = re.compile(rf"^\s*(?:{_SIGN_OFF_WORDS})\b[\s\w,.!'&-]*$", re.IGNORECASE)
# "... do I need? Ta, Steve" - a sign-off trailing the last sentence on the same line.
_TRAILING_SIGN_OFF = re.compile(
    rf"(?<=[.!?)])\s+(?:{_SIGN_OFF_WORDS})\b[,!.]*(?:\s+[A-Z][\w'-]*){{0,3}}\s*$", re.IGNORECASE
)
_REPLY_HEADER = re.compile(
    r"^\s*(?:on\s.{4,120}\swrote:|-{2,}\s*(?:original|forwarded)\s+message\s*-{2,}|"
    r"from:\s.+@.+|le\s.{4,120}\sa\s+[ée]crit\s*:|el\s.{4,120}\sescribi[óo]:)\s*$",
    re.IGNORECASE,
)
_SIGNATURE_START = re.compile(
    r"^\s*(?:--|__+|-{3,}|sent\s+from\s+my\s.+|get\s+outlook\s+for\s.+|"
    r"enviado\s+desde\s+mi\s.+|envoy[ée]\s+de\s+mon\s.+)\s*$",
    re.IGNORECASE,
)
_NOISE = re.compile(
    r"https?://\S+|www\.\S+|\S+@\S+\.\w+"  # links and email addresses
    r"|(?:order|commande|pedido|bestellung)?\s*(?:number|no\.?|n[°º])?\s*#\s*\d+"  # #1034
    r"|\border\s+(?:number|no\.?)\s*\d+"  # order number 1027
    r"|\+?\d[\d ()-]{8,}\d",  # phone numbers
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W_]+")
# Sentence ends and blank lines; not single line breaks, which are often just wrapping.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n\s*\n")


@dataclass(frozen=True)
class Concept:
    """One thing the customer asked about: their word and the store's words for it.

    ``typed`` is false for a concept only a phrase brought in ("pick it up" -> "collect").
    Ranking counts a concept once, however many of its words a document uses.
    """

    words: tuple[str, ...]
    # How much a match on each word counts (the customer's own word: 1.0).
    weights: tuple[float, ...]
    typed: bool = True
    # A support topic (returns, delivery, sizing...) rather than a thing (a product's name).
    topic: bool = False


@dataclass(frozen=True)
class Segment:
    """One sentence of the message: indexes into :attr:`Query.concepts` and
    :attr:`Query.pairs`."""

    concepts: tuple[int, ...]
    pairs: tuple[int, ...] = ()


@dataclass(frozen=True)
class Query:
    """What the index is asked for. Every word is lower-case letters and digits; a phrase is
    words separated by single spaces."""

    concepts: tuple[Concept, ...]
    # Neighbouring words as the customer wrote them ("rain cover", "ennerdale 28"): a document
    # with the same pair is about that thing, not just both words. Used in ranking only.
    pairs: tuple[str, ...] = ()
    # The message's sentences, each as the concepts and pairs it uses: one message often asks
    # several things ("can I swap them? do I pay the postage?"), each with its own answer.
    segments: tuple[Segment, ...] = ()

    @property
    def all_terms(self) -> tuple[str, ...]:
        return tuple(word for concept in self.concepts for word in concept.words)

    @property
    def terms(self) -> tuple[str, ...]:
        """What the customer wrote (after clean-up)."""
        return tuple(c.words[0] for c in self.concepts if c.typed)

    @property
    def expansions(self) -> tuple[str, ...]:
        """The synonyms added."""
        return tuple(word for c in self.concepts for word in (c.words[1:] if c.typed else c.words))

    def fts5(self) -> str:
        return fts5_match(self.all_terms)

    def tsquery(self) -> str:
        return tsquery_match(self.all_terms)


def fts5_match(terms: Sequence[str]) -> str:
    """An FTS5 MATCH expression: every term quoted (so a phrase), any of them may match."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def tsquery_match(terms: Sequence[str]) -> str:
    """A ``to_tsquery`` expression: terms OR'ed, a phrase's words joined with ``<->``."""
    parts = (" <-> ".join(_WORD.findall(term)) for term in terms)
    return " | ".join(f"({part})" for part in parts if part)


def fold(text: str) -> str:
    """Lower-case, accents removed: "Envíos" and "envios" are the same word."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    """The words of ``text``, folded; apostrophes join ("don't" -> "dont", "men's" -> "mens")."""
    return _WORD.findall(fold(text).replace("'", "").replace("\u2019", ""))


def clean_message(text: str) -> str:
    """The part of a customer message that says what they want.

    Drops quoted replies and everything after them, signatures, a leading greeting, a closing
    sign-off with the name under it, links, email addresses, order and phone numbers.
    """
    lines = text[:MAX_MESSAGE_CHARS].replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for line in lines:
        if _REPLY_HEADER.match(line) or _SIGNATURE_START.match(line):
            break
        if not line.lstrip().startswith(">"):
            kept.append(line.rstrip())
    while kept and not kept[-1].strip():
        kept.pop()
    kept = _drop_sign_off(kept)
    # The greeting opens the body, which may come after a subject line.
    paragraphs = re.split(r"\n\s*\n", "\n".join(kept).strip())
    for i in range(min(2, len(paragraphs))):
        if _GREETING.match(paragraphs[i]):
            paragraphs[i] = _drop_greeting(paragraphs[i])
            break
    body = "\n\n".join(p for p in paragraphs if p.strip())
    return _NOISE.sub(" ", body).strip()


def _drop_greeting(text: str) -> str:
    match = _GREETING.match(text)
    if match is None:
        return text
    rest = text[match.end() :]
    # "Hi there," / "Dear Fell & Ford team," / "Hello!": the salutation runs to its punctuation.
    head = re.match(r"[ \t]*([^,!:;.?\n]*)([,!:;.]+|\n)", rest)
    if head and _is_salutation(head.group(1)):
        return rest[head.end() :].strip()
    return rest.strip()


def _is_salutation(tail: str) -> bool:
    names = tail.split()
    fillers = {"there", "all", "team", "everyone", "folks", "guys", "again", "&", "and", "the"}
    return len(names) <= 4 and all(w.lower() in fillers or w[:1].isupper() for w in names)


def _drop_sign_off(lines: list[str]) -> list[str]:
    content = [i for i, line in enumerate(lines) if line.strip()]
    # A sign-off sits in the last few lines: "Thanks," then a name, maybe a company.
    for i in content[-4:]:
        if _SIGN_OFF_LINE.match(lines[i]) and len(lines[i].split()) <= 6 and i != content[0]:
            return lines[:i]
    if content:
        last = content[-1]
        trimmed = _TRAILING_SIGN_OFF.sub("", lines[last])
        if trimmed != lines[last]:
            return [*lines[:last], trimmed]
        if len(content) > 1 and _is_name_line(lines[last]):
            return lines[:last]
    return lines


def _is_name_line(line: str) -> bool:
    """ "Hannah" or "Paul Gallagher" alone on the last line: a signature, not a question."""
    parts = line.split()
    return 0 < len(parts) <= 3 and all(p[:1].isupper() and p.isalpha() for p in parts)


def meaningful_words(text: str) -> list[str]:
    """The words of ``text`` worth searching for, in order, each once."""
    seen: set[str] = set()
    result: list[str] = []
    for word in words(text):
        if word in _STOP_WORDS or (
            len(word) < 3 and not word.isdigit() and word not in _KEEP_SHORT
        ):
            continue
        key = stem(word)  # "walk" and "walks" are one term to the index: count it once
        if key not in seen:
            seen.add(key)
            result.append(word)
    return result


def build_query(message: str) -> Query:
    """The query for a customer message (subject and body joined), or :class:`InvalidInput`
    when nothing searchable is left (only greetings, punctuation or stop words)."""
    sentences = [words(s) for s in _SENTENCE_BREAK.split(clean_message(message))]
    sentences = [s for s in sentences if s]
    concepts: dict[str, dict[str, float]] = {}  # by stem; "~stem" for phrase-only concepts
    claimed: set[str] = set()
    uses: list[list[str]] = []  # the concept keys each sentence uses
    for sentence in sentences:
        used: list[str] = []
        for word in meaningful_words(" ".join(sentence)):
            key = stem(word)
            if key not in concepts and len(concepts) < MAX_TERMS:
                concepts[key] = {word: 1.0}
                claimed.add(key)
            if key in concepts:
                used.append(key)
        for position, extra, weight in expansions(sentence):
            trigger = stem(sentence[position])
            # A synonym joins the concept of the word that brought it in; a phrase's
            # synonyms ("pick it up" -> "collect") form a concept of their own.
            key = trigger if trigger in concepts else f"~{trigger}"
            extra_key = " ".join(stem(w) for w in extra.split())
            if extra_key not in claimed and sum(map(len, concepts.values())) < MAX_WORDS:
                claimed.add(extra_key)
                concepts.setdefault(key, {})[extra] = weight
            if key in concepts:
                used.append(key)
        uses.append(used)
    if not any(not key.startswith("~") for key in concepts):
        raise InvalidInput("The query has no searchable words once greetings are removed.")
    index = {key: i for i, key in enumerate(concepts)}
    pairs: dict[str, int] = {}
    segments: list[Segment] = []
    for sentence, used in zip(sentences, uses, strict=True):
        own = tuple(dict.fromkeys(index[key] for key in used))
        if not own or len(segments) == MAX_SEGMENTS:
            continue
        for pair in _pairs(sentence):
            if pair not in pairs and len(pairs) < MAX_TERMS:
                pairs[pair] = len(pairs)
        own_pairs = tuple(dict.fromkeys(pairs[p] for p in _pairs(sentence) if p in pairs))
        segments.append(Segment(concepts=own, pairs=own_pairs))
    return Query(
        concepts=tuple(
            Concept(
                words=tuple(group),
                weights=tuple(group.values()),
                typed=not key.startswith("~"),
                topic=any(is_topic(word) for word in group),
            )
            for key, group in concepts.items()
        ),
        pairs=tuple(pairs),
        segments=tuple(segments),
    )


def _pairs(sentence: list[str]) -> list[str]:
    meaningful = [_meaningful(word) for word in sentence]
    return [
        f"{first} {second}"
        for i, (first, second) in enumerate(itertools.pairwise(sentence))
        if meaningful[i]
        and meaningful[i + 1]
        and first != second
        and not (first.isdigit() and second.isdigit())  # "7.5" is one size, not a pair
    ]


@functools.lru_cache(maxsize=8192)
def _meaningful(word: str) -> bool:
    # Asked for every word of every sentence; words repeat across messages.
    return bool(meaningful_words(word))


def naive_query(message: str) -> Query:
    """Every word of the raw message, no clean-up or synonyms: the baseline the eval compares
    :func:`build_query` against."""
    terms = list(dict.fromkeys(words(message[:MAX_MESSAGE_CHARS])))[: MAX_TERMS * 2]
    if not terms:
        raise InvalidInput("The query has no searchable words.")
    return Query(concepts=tuple(Concept(words=(term,), weights=(1.0,)) for term in terms))
